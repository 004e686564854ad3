// The dashboard's files as the pipeline serves them (the browser test is
// test/e2e/dashboard.test.ts), and what `/` says when they are not built.
import { readdirSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../src/core/config.js';
import { installErrorHandling } from '../../src/http/errors.js';
import { WEB_ROOT, dashboardRoutes } from '../../src/pipeline/routes/dashboard.js';
import { buildTestPipeline, type TestPipeline } from '../support/apps.js';

describe('GET / (the dashboard)', () => {
  let pipeline: TestPipeline;
  beforeAll(async () => {
    pipeline = await buildTestPipeline('http://127.0.0.1:9');
  });
  afterAll(() => pipeline.close());

  it('serves the built page, revalidated on every load, that loads only its own assets', async () => {
    const res = await pipeline.app.inject('/');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.headers['cache-control']).toBe('no-cache');
    // Nothing from another host: no CDN, no web font.
    const urls = [...res.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(urls.length).toBeGreaterThan(1);
    for (const u of urls) expect(u).toMatch(/^(\/assets\/|data:)/);
  });

  it('serves the hashed assets with a long, immutable cache lifetime', async () => {
    const asset = readdirSync(path.join(WEB_ROOT, 'assets')).find((f) => f.endsWith('.js'))!;
    const res = await pipeline.app.inject(`/assets/${asset}`);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/javascript/);
    expect(res.headers['cache-control']).toMatch(/max-age=31536000.*immutable/);
    expect(res.body).not.toMatch(/https?:\/\/(?!www\.w3\.org)[a-z]/i);
    // Production JSX, whatever NODE_ENV the build ran under: no file names of the build machine.
    expect(res.body).not.toContain(PACKAGE_ROOT);
  });

  it('keeps the page light: the script under 64 kB, no chart library or CDN bundled', () => {
    // 31 kB, 45 kB with the run page and the hand-drawn SVG charts, 58 kB with the change sets' views; a library pulled in by accident shows here.
    const assets = readdirSync(path.join(WEB_ROOT, 'assets'));
    const scripts = assets.filter((f) => f.endsWith('.js'));
    expect(scripts).toHaveLength(1);
    expect(statSync(path.join(WEB_ROOT, 'assets', scripts[0]!)).size).toBeLessThan(64 * 1024);
  });

  it('answers an unknown asset with a 404 problem', async () => {
    const res = await pipeline.app.inject('/assets/nope.js');
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  });
});

describe('GET / when the dashboard is not built', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'cp-web-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('answers a 503 problem that says to run npm run build:web', async () => {
    const app = Fastify();
    installErrorHandling(app);
    await app.register(dashboardRoutes, { root: path.join(dir, 'web') });
    for (const url of ['/', '/assets/index-abc.js']) {
      const res = await app.inject(url);
      expect(res.statusCode).toBe(503);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json()).toMatchObject({ status: 503, detail: expect.stringContaining('npm run build:web') });
    }
    await app.close();
  });
});
