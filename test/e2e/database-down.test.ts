// While the database is away, reads answer 503 problems and readiness says
// so; when it is back, the service recovers without a restart. Uses an
// embedded server, which the test can stop and start.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import { createPool, startEmbedded, type EmbeddedServer } from '../../src/core/db/database.js';
import { migrate } from '../../src/core/db/migrate.js';
import { buildPipelineApp } from '../../src/pipeline/app.js';
import { startMockSource, TEST_CONFIG, type MockSource } from '../support/apps.js';
import { generatedDataset } from '../../src/core/mock/dataset.js';

describe('pipeline when the database goes away', () => {
  let root: string;
  let server: EmbeddedServer;
  let pool: pg.Pool;
  let app: FastifyInstance;
  let source: MockSource;

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'cp-dbdown-'));
    await chmod(root, 0o755);
    server = await startEmbedded({ dataDir: path.join(root, 'pg'), port: 56_000 + Math.floor(Math.random() * 4000) });
    pool = createPool(server.url, 4);
    await migrate(pool);
    source = await startMockSource(generatedDataset(500, 1));
    app = await buildPipelineApp({ pool, sourceUrl: source.url, config: TEST_CONFIG });
    expect((await app.inject({ method: 'POST', url: '/api/ingest' })).statusCode).toBe(200);
  }, 120_000);

  afterAll(async () => {
    await app?.close();
    await source?.close();
    await pool?.end().catch(() => {});
    await server?.stop();
    await rm(root, { recursive: true, force: true });
  });

  it('answers 503 problems while it is down and recovers when it is back', async () => {
    expect((await app.inject('/api/customers')).statusCode).toBe(200);
    await server.stop();

    for (const url of ['/api/customers', '/api/customers/GEN-000000001', '/api/ready', '/api/ingest/runs']) {
      const res = await app.inject(url);
      expect(res.statusCode, url).toBe(503);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json()).toMatchObject({ status: 503 });
      expect(res.body).not.toMatch(/\n\s+at /);
    }
    const ingest = await app.inject({ method: 'POST', url: '/api/ingest' });
    expect(ingest.statusCode).toBe(503);
    // Liveness is about the process, not the database.
    expect((await app.inject('/api/health')).statusCode).toBe(200);

    await server.start();
    const back = await app.inject('/api/customers?limit=1');
    expect(back.statusCode).toBe(200);
    expect(back.json().total).toBe(500);
    expect((await app.inject('/api/ready')).statusCode).toBe(200);
  }, 120_000);
});
