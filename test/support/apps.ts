// Real apps on real servers: the mock source on port 0 over given records,
// and the pipeline app (requests by inject) on a fresh database.
import type { FastifyInstance } from 'fastify';
import { buildMockApp } from '../../src/mock-server/app.js';
import { datasetFromRecords, type Dataset } from '../../src/mock-server/dataset.js';
import { FaultInjector, type FaultSpec } from '../../src/mock-server/faults.js';
import { buildPipelineApp, type PipelineAppDeps } from '../../src/pipeline/app.js';
import { createTestDatabase, type TestDatabase } from './db.js';

export interface MockSource {
  app: FastifyInstance;
  url: string;
  /** Replaces what the source serves (a source that changes between runs). */
  setRecords(records: unknown[]): void;
  /** The server's faults: read its tallies, or `set()` another spec between runs. */
  faults: FaultInjector;
  close(): Promise<void>;
}

export async function startMockSource(
  records: unknown[] | Dataset,
  maxLimit = 1000,
  faults: FaultSpec | string | null = null,
  capLimit?: number,
): Promise<MockSource> {
  let current: Dataset = Array.isArray(records) ? datasetFromRecords(records) : records;
  // A dataset whose contents can be swapped under a running server.
  const dataset: Dataset = {
    get size() {
      return current.size;
    },
    slice: (a, b) => current.slice(a, b),
    get: (id) => current.get(id),
  };
  const injector = new FaultInjector(faults);
  const app = await buildMockApp({ dataset, maxLimit, faults: injector, capLimit });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    app,
    url,
    setRecords(next) {
      current = datasetFromRecords(next);
    },
    faults: injector,
    close: () => app.close(),
  };
}

export const TEST_INGEST_CONFIG: Omit<PipelineAppDeps['config'], 'sourceUrl'> = {
  INGEST_PAGE_SIZE: 1000,
  INGEST_CONCURRENCY: 4,
  INGEST_WORK_MEM: '64MB',
  INGEST_CHUNK_ROWS: 25_000,
  INGEST_MAX_PAGES: 1_000_000,
  INGEST_MAX_RECORDS: 50_000_000,
  INGEST_MAX_DURATION_MS: 6 * 3600_000,
  SOURCE_TIMEOUT_MS: 5000,
  SOURCE_MAX_PAGE_BYTES: 64 * 1024 * 1024,
  SOURCE_MAX_RETRIES: 3,
  SOURCE_RETRY_BASE_MS: 10,
  SOURCE_RETRY_MAX_MS: 100,
  SOURCE_RETRY_BUDGET_MS: 30_000,
};

export interface TestPipeline {
  app: FastifyInstance;
  db: TestDatabase;
  close(): Promise<void>;
}

export async function buildTestPipeline(
  sourceUrl: string,
  config: Partial<PipelineAppDeps['config']> = {},
  db?: TestDatabase,
): Promise<TestPipeline> {
  const database = db ?? (await createTestDatabase());
  const app = await buildPipelineApp({ pool: database.pool, config: { ...TEST_INGEST_CONFIG, sourceUrl, ...config } });
  await app.ready();
  return {
    app,
    db: database,
    async close() {
      await app.close();
      if (!db) await database.drop();
    },
  };
}
