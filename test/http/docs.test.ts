// The OpenAPI documents of both services describe every route, parameter and
// error (as a problem with an example), and /docs works with no network.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildMockApp } from '../../src/mock-server/app.js';
import { datasetFromRecords } from '../../src/core/mock/dataset.js';
import { buildPipelineApp } from '../../src/pipeline/app.js';
import { createPool } from '../../src/core/db/database.js';
import { TEST_CONFIG, testConfig } from '../support/apps.js';

interface Operation {
  summary?: string;
  parameters?: { name: string; in: string; description?: string }[];
  responses: Record<string, { description?: string; content?: Record<string, { schema?: { $ref?: string }; example?: unknown }> }>;
  security?: unknown[];
}
type Document = {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown>; securitySchemes?: Record<string, unknown> };
};

const isError = (code: string) => /^[45](\d\d|xx)$/i.test(code);

/** Every way the document falls short, as readable lines (empty when it is complete). */
function gaps(doc: Document): string[] {
  const out: string[] = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const where = `${method.toUpperCase()} ${path}`;
      if (!op.summary?.trim()) out.push(`${where}: no summary`);
      for (const p of op.parameters ?? []) {
        if (!p.description?.trim()) out.push(`${where}: parameter ${p.in}:${p.name} has no description`);
      }
      const codes = Object.keys(op.responses);
      if (!codes.some((c) => c.startsWith('2'))) out.push(`${where}: no success response`);
      if (!codes.includes('500')) out.push(`${where}: no 500`);
      for (const [code, response] of Object.entries(op.responses)) {
        if (!response.description?.trim()) out.push(`${where} ${code}: no description`);
        if (!isError(code)) continue;
        const media = response.content?.['application/problem+json'];
        if (media?.schema?.$ref !== '#/components/schemas/Problem') out.push(`${where} ${code}: not a Problem`);
        if (media?.example === undefined) out.push(`${where} ${code}: no example`);
      }
    }
  }
  return out;
}

describe('OpenAPI documents', () => {
  let pipeline: FastifyInstance;
  let guarded: FastifyInstance;
  let mock: FastifyInstance;
  const pool = createPool('postgres://postgres@127.0.0.1:9/none', 1);

  beforeAll(async () => {
    const sourceUrl = 'http://127.0.0.1:9';
    pipeline = await buildPipelineApp({ pool, sourceUrl, config: TEST_CONFIG });
    const security = { apiKey: 'k'.repeat(32), rateLimitPerMinute: 60 };
    guarded = await buildPipelineApp({ pool, sourceUrl, config: testConfig({ security }) });
    mock = await buildMockApp({ dataset: datasetFromRecords([]) });
  });
  afterAll(async () => {
    await Promise.all([pipeline?.close(), guarded?.close(), mock?.close()]);
    await pool.end();
  });

  const documentOf = async (app: FastifyInstance) => {
    const res = await app.inject('/openapi.json');
    expect(res.statusCode).toBe(200);
    return res.json() as Document;
  };

  it.each([
    ['pipeline', () => pipeline],
    ['pipeline with API key and rate limit', () => guarded],
    ['mock', () => mock],
  ])('%s: every route has a summary, every parameter a description, every error a Problem with an example', async (_name, app) => {
    const doc = await documentOf(app());
    expect(Object.keys(doc.paths).length).toBeGreaterThan(2);
    expect(doc.components.schemas).toHaveProperty('Problem');
    expect(gaps(doc)).toEqual([]);
  });

  it('lists the seed routes, metrics and probes', async () => {
    const pipelinePaths = Object.keys((await documentOf(pipeline)).paths);
    expect(pipelinePaths).toEqual(
      expect.arrayContaining(['/api/health', '/api/ready', '/api/customers', '/api/customers/{customer_id}', '/api/ingest', '/metrics']),
    );
    const mockPaths = Object.keys((await documentOf(mock)).paths);
    expect(mockPaths).toEqual(expect.arrayContaining(['/api/health', '/api/customers', '/api/customers/{customer_id}', '/metrics']));
  });

  it('shows page and limit as optional, with their defaults, on every paged route', async () => {
    const paged: [FastifyInstance, string][] = [
      [mock, '/api/customers'],
      [pipeline, '/api/customers'],
      [pipeline, '/api/ingest/runs'],
      [pipeline, '/api/ingest/runs/{id}/rejected'],
    ];
    for (const [app, route] of paged) {
      const params = (
        (await documentOf(app)).paths[route]!.get as unknown as {
          parameters: { name: string; required?: boolean; schema: { default?: unknown } }[];
        }
      ).parameters;
      for (const name of ['page', 'limit']) {
        const p = params.find((x) => x.name === name);
        expect(p, `${route} ${name}`).toMatchObject({ required: false });
        // Integers with their range, though the raw text is checked before Ajv reads it (paging.ts).
        expect(p!.schema, `${route} ${name}`).toMatchObject({ type: 'integer', minimum: 1, maximum: expect.any(Number) });
        if (name === 'limit' || route !== '/api/customers') expect(p!.schema.default, `${route} ${name}`).toBe(name === 'page' ? 1 : 10);
      }
    }
  });

  it('documents the bearer key on the guarded routes only, and 429 on reads when limited', async () => {
    const doc = await documentOf(guarded);
    expect(doc.components.securitySchemes).toHaveProperty('bearer');
    const ingest = doc.paths['/api/ingest']!.post!;
    expect(ingest.security).toEqual([{ bearer: [] }]);
    expect(ingest.responses).toHaveProperty('401');
    expect(ingest.responses).not.toHaveProperty('429');
    const read = doc.paths['/api/customers']!.get!;
    expect(read.security).toBeUndefined();
    expect(read.responses).toHaveProperty('429');
    expect(doc.paths['/api/health']!.get!.responses).not.toHaveProperty('429');

    const open = await documentOf(pipeline);
    expect(open.paths['/api/ingest']!.post!.responses).not.toHaveProperty('401');
    expect(open.paths['/api/customers']!.get!.responses).not.toHaveProperty('429');
  });

  it.each([
    ['pipeline', () => pipeline],
    ['mock', () => mock],
  ])('%s: /docs loads with its own assets only (no network needed)', async (_name, app) => {
    const res = await app().inject('/docs/');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toMatch(/script-src 'self'/);
    expect(csp).not.toMatch(/upgrade-insecure-requests/);
    // Nothing from another host.
    expect(res.body).not.toMatch(/(src|href)=["']?(https?:)?\/\//);
    const assets = [...res.body.matchAll(/(?:src|href)=["']?([^"' >]+)/g)].map((m) => m[1]!);
    expect(assets.length).toBeGreaterThan(2);
    for (const asset of assets) {
      const url = new URL(asset, 'http://x/docs/').pathname;
      const a = await app().inject(url);
      expect(a.statusCode, url).toBe(200);
    }
    // The UI's own initializer reads the document from the same server.
    const init = await app().inject('/docs/static/swagger-initializer.js');
    expect(init.statusCode).toBe(200);
    const json = await app().inject('/docs/json');
    expect(json.statusCode).toBe(200);
    expect(json.json()).toHaveProperty('openapi', '3.1.0');
  });
});
