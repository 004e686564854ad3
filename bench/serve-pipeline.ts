// Child process: the real pipeline app, built as production builds it (same
// settings from the environment, same logger, same plugins), plus one route,
// /bench/constant, that answers a constant record through the same Customer
// response schema: the ceiling of the read API on this machine.
import { Type } from 'typebox';
import { loadConfig, sourceUrl } from '../src/core/config.js';
import { buildPipelineApp } from '../src/pipeline/app.js';
import { createPool } from '../src/core/db/database.js';
import { createLogger } from '../src/services.js';
import { benchRecord } from './variants.js';
import { onParentMessage, sendToParent } from './child-ipc.js';

const config = loadConfig();
if (!config.database.url) throw new Error('serve-pipeline: DATABASE_URL must be set by the benchmark');
const logger = createLogger(config, 'customer-pipeline').child({ service: 'pipeline' });
const pool = createPool(config.database.url, config.database.poolMax, {
  statementTimeoutMs: config.database.statementTimeoutMs,
  lockTimeoutMs: config.database.lockTimeoutMs,
});
const shutdown = new AbortController();
const app = await buildPipelineApp({ pool, sourceUrl: sourceUrl(config), config, logger, shutdownSignal: shutdown.signal });

const constant = benchRecord(0, 0);
app.get('/bench/constant', { schema: { hide: true, response: { 200: Type.Ref('Customer') } } }, async () => constant);
await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
const port = typeof address === 'object' && address ? address.port : 0;

onParentMessage(
  async () => undefined,
  async () => {
    shutdown.abort(new Error('shutting down'));
    await app.close();
    await pool.end();
  },
);
sendToParent({ type: 'ready', url: `http://127.0.0.1:${port}`, pid: process.pid });
