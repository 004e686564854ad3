import { LogController, type FastifyBaseLogger, type FastifyServerOptions } from 'fastify';

/** Fastify options both services share. Per-request log lines are off: they cost throughput and say little. */
export function serverOptions(logger: FastifyBaseLogger | false | undefined): FastifyServerOptions {
  return {
    ...(logger ? { loggerInstance: logger } : { logger: false }),
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
  };
}
