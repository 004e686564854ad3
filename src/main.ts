// Process entry point: `main.js [all|mock|pipeline]`. Reads the settings,
// listens, and closes gracefully on SIGINT/SIGTERM.
import closeWithGrace from 'close-with-grace';
import { ConfigError, loadConfig, type Config } from './config.js';
import { DatasetError } from './mock-server/dataset.js';
import { createLogger, startMock, startPipeline, type Running } from './services.js';

const MODES = ['all', 'mock', 'pipeline'] as const;
type Mode = (typeof MODES)[number];

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

async function main(mode: Mode): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`customer-pipeline: invalid setting: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger(config, 'customer-pipeline');
  const running: Running[] = [];
  closeWithGrace({ delay: 15_000, logger }, async ({ signal, err }) => {
    if (err) logger.error({ err }, 'stopping after an error');
    else logger.info({ signal }, 'stopping');
    // Last started, first stopped: the pipeline (and its database) before the mock.
    for (const r of running.reverse()) await r.close().catch((e: Error) => logger.error({ err: e }, 'close failed'));
  });

  try {
    let sourceUrl = config.sourceUrl;
    if (mode === 'all' || mode === 'mock') {
      const mock = await startMock(config, logger.child({ service: 'mock' }));
      running.push(mock);
      // With MOCK_PORT=0 the mock's real port is known only now.
      if (config.MOCK_SERVER_URL === null) sourceUrl = mock.url;
      say(`mock server (source API)  ${mock.url}   docs: ${mock.url}/docs`);
    }
    if (mode === 'all' || mode === 'pipeline') {
      const pipeline = await startPipeline(config, logger.child({ service: 'pipeline' }), { sourceUrl });
      running.push(pipeline);
      say(`pipeline API              ${pipeline.url}   docs: ${pipeline.url}/docs`);
      say(`  ingesting from          ${sourceUrl}`);
      say(`database                  ${pipeline.db.url}${pipeline.db.embedded ? '   (embedded PostgreSQL 15)' : ''}`);
      say(`  inspect it with         psql '${pipeline.db.url}'`);
    }
    say('Ctrl-C stops everything.');
  } catch (err) {
    const message = err instanceof DatasetError || err instanceof ConfigError ? err.message : (err as Error).message;
    process.stderr.write(`customer-pipeline: cannot start: ${message}\n`);
    for (const r of running.reverse()) await r.close().catch(() => {});
    process.exit(1);
  }
}

const arg = process.argv[2] ?? 'all';
if (!(MODES as readonly string[]).includes(arg)) {
  process.stderr.write(`usage: main [${MODES.join('|')}]\n`);
  process.exit(2);
}
await main(arg as Mode);
