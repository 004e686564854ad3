// Wiring: settings → logger, database, apps. Shared by the process entry
// points and by the end-to-end tests, so both start the same system.
import pino, { type DestinationStream, type Logger } from 'pino';
import type { FastifyInstance } from 'fastify';
import { sourceUrl, type Config, type HttpSettings, type LogSettings, type MockSettings } from './core/config.js';
import { buildMockApp } from './mock-server/app.js';
import { generatedDataset, loadDataFile, type Dataset } from './core/mock/dataset.js';
import { buildPipelineApp } from './pipeline/app.js';
import { openDatabase, type Database } from './core/db/database.js';
import { migrate } from './core/db/migrate.js';
import { recoverAbandonedRuns } from './core/ingest/ingest.js';
import { LogOutput } from './log-output.js';

/**
 * Errors are logged by type, message, code and stack only: a driver's error
 * can carry the row it failed on (pg's `detail`: "Key (email)=(...)"), which
 * is personal data.
 */
export function errorForLog(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { message: String(err) };
  const e = err as Error & { code?: unknown; statusCode?: unknown };
  return { type: e.constructor?.name ?? e.name, message: e.message, code: e.code, status: e.statusCode, stack: e.stack };
}

const LOG_BATCH_BYTES = 4096;
const LOG_FLUSH_MS = 250;

/**
 * The production logger: JSON lines on stdout (or `destination`, for tests).
 * Written asynchronously and in batches: a line costs a buffer append; the
 * buffer is written once it holds LOG_BATCH_BYTES, or after LOG_FLUSH_MS (so
 * a quiet service's lines are at most that late). A write per line, each a
 * round trip through libuv's thread pool, cost the mock about 15% of its CPU
 * under load. What is buffered is flushed when the process exits (a SIGKILL
 * loses the last lines); once stdout's reader has gone (a closed pipe), lines
 * are dropped and never hold the exit (log-output.ts).
 */
export function createLogger(config: { log: LogSettings }, name: string, destination?: DestinationStream): Logger {
  const options = { name, level: config.log.level, serializers: { err: errorForLog } };
  return pino(options, destination ?? new LogOutput(1, { minLength: LOG_BATCH_BYTES, flushMs: LOG_FLUSH_MS }));
}

export interface Running {
  app: FastifyInstance;
  /** A URL that reaches the service from this machine. */
  url: string;
  /** What the server is bound to, as the OS says: "127.0.0.1:8000", "0.0.0.0:8000", "[::]:8000". */
  bound: string;
  close(): Promise<void>;
}

/** A listen failure, in terms of the settings that caused it. */
export class ListenError extends Error {
  override name = 'ListenError';
}

/** Listens on HOST and the port named `portSetting`; a failure names the setting to change. */
async function listen(app: FastifyInstance, host: string, port: number, portSetting: string): Promise<{ url: string; bound: string }> {
  try {
    await app.listen({ host, port });
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'EADDRINUSE') {
      throw new ListenError(
        `${portSetting}=${port}: the port is in use on ${host} (another process listens there): stop it, or set ${portSetting} to a free port`,
      );
    }
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EINVAL') {
      throw new ListenError(
        `HOST=${host}: not an address of this machine (${code}): use 127.0.0.1 (this machine only), 0.0.0.0 (every interface) or one of its addresses`,
      );
    }
    if (code === 'EACCES')
      throw new ListenError(`${portSetting}=${port}: this user may not listen on that port (EACCES): use one above 1023`);
    throw err;
  }
  const a = app.server.address();
  if (!a || typeof a !== 'object') return { url: `http://127.0.0.1:${port}`, bound: String(a) };
  const wildcard = a.address === '0.0.0.0' || a.address === '::';
  const host6 = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  return { url: `http://${wildcard ? '127.0.0.1' : host6}:${a.port}`, bound: `${host6}:${a.port}` };
}

export function mockDataset(mock: MockSettings): Dataset {
  return mock.generate > 0 ? generatedDataset(mock.generate, mock.seed) : loadDataFile(mock.dataFile, mock.dataStrict);
}

export async function startMock(
  config: { http: HttpSettings; mock: MockSettings; log: LogSettings },
  logger: Logger,
  port = config.http.mockPort,
): Promise<Running> {
  const app = await buildMockApp({
    dataset: mockDataset(config.mock),
    maxLimit: config.mock.maxLimit,
    logger,
    logRequests: config.log.requests,
    faults: config.mock.faults,
  });
  let where: { url: string; bound: string };
  try {
    where = await listen(app, config.http.host, port, 'MOCK_PORT');
  } catch (err) {
    await app.close();
    throw err;
  }
  return { app, ...where, close: () => app.close() };
}

export interface RunningPipeline extends Running {
  db: Database;
  /** The source API its ingests read from (`sourceUrl`). */
  sourceUrl: string;
}

/** `localMock`: the URL of a mock listening in this process, the source when MOCK_SERVER_URL is unset. */
export async function startPipeline(
  config: Config,
  logger: Logger,
  opts: { port?: number; localMock?: string } = {},
): Promise<RunningPipeline> {
  const source = sourceUrl(config, opts.localMock);
  const db = await openDatabase({
    databaseUrl: config.database.url,
    readUrl: config.database.readUrl,
    embeddedDir: config.database.embeddedDir,
    embeddedPort: config.database.embeddedPort,
    poolMax: config.database.poolMax,
    timeouts: { statementTimeoutMs: config.database.statementTimeoutMs, lockTimeoutMs: config.database.lockTimeoutMs },
    transactionPooler: config.database.transactionPooler,
    logger,
  });
  try {
    const applied = await migrate(db.pool);
    if (applied.length) logger.info({ applied }, 'migrations applied');
    const abandoned = await recoverAbandonedRuns(db.pool);
    if (abandoned) logger.warn({ abandoned }, 'runs left running by a stopped process marked failed');
  } catch (err) {
    await db.close();
    throw err;
  }
  const shutdown = new AbortController();
  const app = await buildPipelineApp({
    pool: db.pool,
    readPool: db.readPool,
    replica: db.replica,
    transactionPooler: config.database.transactionPooler,
    sourceUrl: source,
    config,
    logger,
    shutdownSignal: shutdown.signal,
  });
  let where: { url: string; bound: string };
  try {
    where = await listen(app, config.http.host, opts.port ?? config.http.pipelinePort, 'PIPELINE_PORT');
  } catch (err) {
    await app.close();
    await db.close();
    throw err;
  }
  return {
    app,
    db,
    sourceUrl: source,
    ...where,
    async close() {
      // Stop fetching and roll back an ingest in flight, let requests finish, then the database.
      shutdown.abort(new Error('shutting down'));
      await app.close();
      await db.close();
    },
  };
}
