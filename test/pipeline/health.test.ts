// Liveness is about the process; readiness about the database and its
// migrations. (A stopped database: test/e2e/database-down.test.ts.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildPipelineApp } from '../../src/pipeline/app.js';
import { migrate } from '../../src/core/db/migrate.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { TEST_CONFIG } from '../support/apps.js';

describe('GET /api/health and /api/ready', () => {
  let db: TestDatabase;
  let app: FastifyInstance;
  beforeAll(async () => {
    db = await createTestDatabase({ migrate: false });
    app = await buildPipelineApp({ pool: db.pool, sourceUrl: 'http://127.0.0.1:9', config: TEST_CONFIG });
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  it('is alive, and not ready, while the migrations are not applied', async () => {
    expect((await app.inject('/api/health')).json()).toEqual({ status: 'ok', service: 'pipeline' });
    const ready = await app.inject('/api/ready');
    expect(ready.statusCode).toBe(503);
    expect(ready.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(ready.json()).toMatchObject({ status: 503, detail: 'database migrations are not applied' });
  });

  it('is ready once they are', async () => {
    await migrate(db.pool);
    const ready = await app.inject('/api/ready');
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: 'ready', database: 'ok' });
  });
});
