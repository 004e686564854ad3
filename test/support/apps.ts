// Real apps on real servers: the mock source on port 0 over given records,
// and the pipeline app (requests by inject) on a fresh database.
import type { FastifyInstance } from 'fastify';
import { buildMockApp } from '../../src/mock-server/app.js';
import { datasetFromRecords, type Dataset } from '../../src/core/mock/dataset.js';
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

export type TestConfig = PipelineAppDeps['config'];
/** Some settings of some groups: `{ ingest: { pageSize: 10 } }`. */
export type TestConfigOverrides = { [G in keyof TestConfig]?: Partial<NonNullable<TestConfig[G]>> };

/** The settings of a test pipeline: the defaults, but a source timeout and retries that cost little. */
export const TEST_CONFIG: TestConfig = {
  ingest: {
    pageSize: 1000,
    concurrency: 4,
    workMem: '64MB',
    chunkRows: 25_000,
    maxPages: 1_000_000,
    maxRecords: 50_000_000,
    maxDurationMs: 6 * 3600_000,
    deleteMissing: false,
    deleteMaxPercent: 10,
    changesRetentionDays: 90,
  },
  source: {
    url: null, // unread: a test pipeline is given its source's URL
    timeoutMs: 5000,
    maxPageBytes: 64 * 1024 * 1024,
    maxRetries: 3,
    retryBaseMs: 10,
    retryMaxMs: 100,
    retryBudgetMs: 30_000,
  },
};

/** `layers` merged over `base` group by group, the last winning: `{ ingest: { pageSize: 10 } }` changes that one setting. */
export function mergeConfig<T extends TestConfigOverrides>(base: T, ...layers: TestConfigOverrides[]): T {
  const config: Record<string, object | undefined> = { ...base };
  for (const layer of layers) for (const [group, values] of Object.entries(layer)) config[group] = { ...config[group], ...values };
  return config as T;
}

/** TEST_CONFIG with `overrides` merged in. */
export const testConfig = (overrides: TestConfigOverrides = {}): TestConfig => mergeConfig(TEST_CONFIG, overrides);

export interface TestPipeline {
  app: FastifyInstance;
  db: TestDatabase;
  close(): Promise<void>;
}

export async function buildTestPipeline(sourceUrl: string, overrides: TestConfigOverrides = {}, db?: TestDatabase): Promise<TestPipeline> {
  const database = db ?? (await createTestDatabase());
  const app = await buildPipelineApp({ pool: database.pool, sourceUrl, config: testConfig(overrides) });
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
