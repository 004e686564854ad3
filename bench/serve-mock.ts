// Child process: the real mock source app, listening on 127.0.0.1:0, with the
// production logger. The parent picks the dataset over IPC:
//   { type: 'dataset', size, version, source }  →  { type: 'dataset-set' }
import { loadConfig } from '../src/core/config.js';
import { buildMockApp } from '../src/mock-server/app.js';
import type { Dataset } from '../src/core/mock/dataset.js';
import { createLogger } from '../src/services.js';
import { benchDataset } from './variants.js';
import { onParentMessage, sendToParent } from './child-ipc.js';

const config = loadConfig();
let current: Dataset = benchDataset(Number(process.env.BENCH_RECORDS ?? 0), 0);
const dataset: Dataset = {
  get size() {
    return current.size;
  },
  slice: (a, b) => current.slice(a, b),
  get: (id) => current.get(id),
};
const logger = createLogger(config, 'customer-pipeline').child({ service: 'mock' });
// As services.ts startMock builds it, over the bench's dataset.
const app = await buildMockApp({
  dataset,
  maxLimit: config.mock.maxLimit,
  logger,
  logRequests: config.log.requests,
  faults: config.mock.faults,
});
await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
const port = typeof address === 'object' && address ? address.port : 0;

onParentMessage(
  async (msg) => {
    if (msg.type === 'dataset') {
      current = benchDataset(Number(msg.size), Number(msg.version), msg.source === 'memory' ? 'memory' : 'generated');
      return { type: 'dataset-set' };
    }
    return undefined;
  },
  () => app.close(),
);
sendToParent({ type: 'ready', url: `http://127.0.0.1:${port}`, pid: process.pid });
