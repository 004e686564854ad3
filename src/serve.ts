// Runs the services in this process: `all` (mock + pipeline), `mock` or
// `pipeline`. Reads the settings, listens, prints where everything is, and
// closes gracefully on SIGINT/SIGTERM. Shared by `main` (npm start) and the
// CLI's start / mock / pipeline commands.
import closeWithGrace from 'close-with-grace';
import { ConfigError, loadConfig, readDotEnv, type Config } from './core/config.js';
import { createLogger, startMock, startPipeline, type Running } from './services.js';

export const MODES = ['all', 'mock', 'pipeline'] as const;
export type Mode = (typeof MODES)[number];

/** Where a server listens, as the OS says, and who can reach it. */
function boundNote(bound: string): string {
  const everywhere = /^(0\.0\.0\.0|\[::\]):/.test(bound);
  const local = /^(127\.|\[::1\]:)/.test(bound);
  return `(bound to ${bound}${everywhere ? ': every interface' : local ? ': this machine only' : ''})`;
}

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

/**
 * The signals that ask for a stop. A terminal's Ctrl-C goes to every process
 * of its foreground group, and npm (and tsx) pass theirs on too: one request
 * can arrive two or three times, so each after the first only says so. The
 * shutdown is bounded by GRACE_MS all the same.
 */
const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
const GRACE_MS = 15_000;

/**
 * stdout and stderr may be pipes whose reader goes away (`npm start | tee
 * log`: tee gets the Ctrl-C too). A write to them that fails is not the
 * service's failure: it is dropped, and the shutdown goes on.
 */
function tolerateClosedOutput(): void {
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});
}

export async function serve(mode: Mode): Promise<void> {
  let config: Config;
  let dotEnv: string | null;
  try {
    dotEnv = readDotEnv();
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`customer-pipeline: invalid setting: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  tolerateClosedOutput();
  const logger = createLogger(config, 'customer-pipeline');
  const running: Running[] = [];
  let stopRequest: NodeJS.Signals | null = null;
  let stopping = false;
  const grace = closeWithGrace({ delay: GRACE_MS, logger, skip: [...STOP_SIGNALS] }, async ({ signal, err }) => {
    stopping = true;
    if (err) logger.error({ err }, 'stopping after an error');
    else logger.info({ signal: signal ?? stopRequest }, 'stopping');
    // Last started, first stopped: the pipeline (and its database) before the mock.
    for (const r of running.reverse()) await r.close().catch((e: Error) => logger.error({ err: e }, 'close failed'));
  });
  for (const signal of STOP_SIGNALS) {
    process.on(signal, () => {
      if (stopping) {
        logger.info({ signal }, 'already stopping');
        return;
      }
      stopRequest = signal;
      stopping = true;
      grace.close();
    });
  }

  try {
    if (dotEnv) say(`settings read from ${dotEnv} (the environment wins)`);
    let localMock: string | undefined;
    if (mode === 'all' || mode === 'mock') {
      const mock = await startMock(config, logger.child({ service: 'mock' }));
      running.push(mock);
      // The local mock's URL, for sourceUrl(): with MOCK_PORT=0 its port is known only now.
      localMock = mock.url;
      say(`mock server (source API)  ${mock.url}   docs: ${mock.url}/docs   ${boundNote(mock.bound)}`);
    }
    if (mode === 'all' || mode === 'pipeline') {
      const pipeline = await startPipeline(config, logger.child({ service: 'pipeline' }), { localMock });
      running.push(pipeline);
      say(`pipeline API              ${pipeline.url}   docs: ${pipeline.url}/docs   ${boundNote(pipeline.bound)}`);
      say(`  ingesting from          ${pipeline.sourceUrl}`);
      say(`database                  ${pipeline.db.url}${pipeline.db.embedded ? '   (embedded PostgreSQL 15)' : ''}`);
      say(`  inspect it with         psql '${pipeline.db.url}'`);
    }
    say('Ctrl-C stops everything.');
  } catch (err) {
    // DatasetError, ConfigError, ListenError, DatabaseSetupError: each names the setting to change.
    process.stderr.write(`customer-pipeline: cannot start: ${(err as Error).message}\n`);
    stopping = true;
    for (const r of running.reverse()) await r.close().catch(() => {});
    process.exit(1);
  }
}
