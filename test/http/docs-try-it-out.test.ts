// "Try it out" in /docs, as it opens: every operation of both documents,
// called with what Swagger UI fills in by itself (the examples of required
// parameters, the defaults of the others), answers 2xx on the seed's data.
// And the document reads well there: every route in a group, summaries
// without Markdown marks (Swagger UI shows summaries as plain text).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { PACKAGE_ROOT } from '../../src/core/config.js';
import { buildTestPipeline, startMockSource, type MockSource, type TestPipeline } from '../support/apps.js';

interface Parameter {
  name: string;
  in: string;
  required?: boolean;
  schema?: { default?: unknown; examples?: unknown[] };
  example?: unknown;
  examples?: Record<string, { value: unknown }>;
}
interface Operation {
  summary?: string;
  tags?: string[];
  parameters?: Parameter[];
}
type Document = { paths: Record<string, Record<string, Operation>>; tags?: { name: string }[] };

/** What Swagger UI puts in a parameter's field when "Try it out" opens: its example, else its default. */
function prefilled(p: Parameter): unknown {
  if (p.example !== undefined) return p.example;
  const named = p.examples && Object.values(p.examples)[0];
  if (named) return named.value;
  if (p.schema?.examples?.length) return p.schema.examples[0];
  return p.schema?.default;
}

function requests(doc: Document): { method: string; url: string }[] {
  const out: { method: string; url: string }[] = [];
  for (const [route, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      let url = route;
      const query = new URLSearchParams();
      for (const p of op.parameters ?? []) {
        const v = prefilled(p);
        if (p.in === 'path') url = url.replace(`{${p.name}}`, encodeURIComponent(String(v as string | number)));
        else if (p.in === 'query' && v !== undefined) query.set(p.name, String(v as string | number));
      }
      out.push({ method: method.toUpperCase(), url: query.size ? `${url}?${query.toString()}` : url });
    }
  }
  return out;
}

const records = JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'data', 'customers.json'), 'utf8')) as unknown[];

describe('Try it out, as it opens', () => {
  let source: MockSource;
  let pipeline: TestPipeline;
  beforeAll(async () => {
    source = await startMockSource(records);
    pipeline = await buildTestPipeline(source.url);
    // A run 1 to look up, as the run routes' example says.
    expect((await pipeline.app.inject({ method: 'POST', url: '/api/ingest' })).statusCode).toBe(200);
  });
  afterAll(async () => {
    await pipeline?.close();
    await source?.close();
  });

  const services = (): [string, FastifyInstance][] => [
    ['pipeline', pipeline.app],
    ['mock', source.app],
  ];

  it('answers 2xx for every operation of both services', async () => {
    const failures: string[] = [];
    for (const [name, app] of services()) {
      const doc = (await app.inject('/openapi.json')).json() as Document;
      const calls = requests(doc);
      expect(calls.length).toBeGreaterThan(3);
      for (const { method, url } of calls) {
        const res = await app.inject({ method: method as 'GET', url });
        if (res.statusCode >= 300) failures.push(`${name} ${method} ${url} → ${res.statusCode} ${res.body.slice(0, 200)}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('groups every operation under a declared tag, with plain summaries', async () => {
    for (const [name, app] of services()) {
      const doc = (await app.inject('/openapi.json')).json() as Document;
      const declared = new Set((doc.tags ?? []).map((t) => t.name));
      expect(declared.size, name).toBeGreaterThan(1);
      for (const [route, methods] of Object.entries(doc.paths)) {
        for (const [method, op] of Object.entries(methods)) {
          expect(op.tags?.length, `${name} ${method} ${route}`).toBe(1);
          expect(declared.has(op.tags![0]!), `${name} ${method} ${route}`).toBe(true);
          expect(op.summary, `${name} ${method} ${route}`).not.toContain('`');
        }
      }
    }
  });
});
