// Fastify options both services share: body limit, request ids, and the one
// log line per request. (The id goes back to the caller with the security
// headers: installResponseHeaders in security.ts.)
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { AjvCompiler } from '@fastify/ajv-compiler';
import { LogController, type FastifyBaseLogger, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import { strictIntegerValidation } from './paging.js';

export const REQUEST_ID_HEADER = 'x-request-id';

// An incoming id is kept only when it looks like an id: a caller cannot put
// an arbitrary (or huge) string into every log line of its request.
const REQUEST_ID = /^[\w.:-]{1,128}$/;

/** The caller's x-request-id when it is a sane token, else a fresh UUID. */
export function requestId(req: IncomingMessage): string {
  const incoming = req.headers[REQUEST_ID_HEADER];
  return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
}

/**
 * Fastify's request lines log the raw URL (query strings such as `email=`
 * are personal data) and two lines per request. This writes one line when a
 * response is finished: method, route pattern, status, duration; the request
 * id comes from the request's child logger. No URL, no headers, no body.
 */
export class RequestLogController extends LogController {
  constructor(private readonly logRequests: boolean) {
    super({ disableRequestLogging: !logRequests, requestIdLogLabel: 'request_id' });
  }

  override incomingRequest(): void {}

  // Answered (and counted) by the app's own not-found handler; the request line says 404.
  override routeNotFound(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (!this.logRequests) return;
    const line = {
      method: request.method,
      route: request.routeOptions.url ?? null,
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 10) / 10,
    };
    if (error) reply.log.warn({ ...line, err: error }, 'request failed');
    else reply.log.info(line, 'request');
  }

  // The defaults of these two log the request (its URL); the error is enough.
  override defaultErrorLog(error: Error, _request: FastifyRequest, reply: FastifyReply): void {
    if (reply.statusCode >= 500) reply.log.error({ err: error }, error.message);
  }

  override writeHeadError(error: Error, _request: FastifyRequest, reply: FastifyReply): void {
    reply.log.warn({ err: error }, error.message);
  }
}

export interface SharedServerOptions {
  /** One log line per request (LOG_REQUESTS); default on when there is a logger. */
  logRequests?: boolean;
}

export function serverOptions(
  logger: FastifyBaseLogger | false | undefined,
  opts: SharedServerOptions = {},
): FastifyServerOptions {
  const ajvCompiler = AjvCompiler();
  return {
    ...(logger ? { loggerInstance: logger } : { logger: false }),
    logController: new RequestLogController(Boolean(logger) && (opts.logRequests ?? true)),
    // Neither service takes a request body bigger than this; past it: 413.
    bodyLimit: 1024 * 1024,
    genReqId: requestId,
    // Fastify's own Ajv compiler, with the strict integer rule in front of
    // every integer query and path parameter (paging.ts).
    schemaController: {
      compilersFactory: {
        buildValidator: (externalSchemas, options) => {
          const compile = ajvCompiler(externalSchemas, options);
          return (route) => strictIntegerValidation(route.httpPart, route.schema, compile(route));
        },
      },
    },
  };
}
