// The operator dashboard at `/`: static files built by Vite from web/ into
// dist/web (`npm run build:web`). Hashed assets are cached for good; the page
// itself is revalidated. Without a build, `/` says how to make one.
import { existsSync } from 'node:fs';
import path from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync } from 'fastify';
import { PACKAGE_ROOT } from '../../core/config.js';
import { sendProblem } from '../../http/errors.js';

export const WEB_ROOT = path.join(PACKAGE_ROOT, 'dist', 'web');

export const dashboardRoutes: FastifyPluginAsync<{ root?: string }> = async (app, opts) => {
  const root = opts.root ?? WEB_ROOT;
  const index = path.join(root, 'index.html');
  const assets = path.join(root, 'assets');

  if (!existsSync(index) || !existsSync(assets)) {
    app.log.warn({ root }, 'the dashboard is not built (npm run build:web); / answers 503');
    const notBuilt = () =>
      `The dashboard is not built: run \`npm run build:web\` (it writes ${path.relative(PACKAGE_ROOT, root) || root}), then restart the pipeline`;
    app.get('/', { schema: { hide: true } }, async (_request, reply) => sendProblem(reply, 503, notBuilt()));
    app.get('/assets/*', { schema: { hide: true } }, async (_request, reply) => sendProblem(reply, 503, notBuilt()));
    return;
  }

  await app.register(fastifyStatic, {
    root: assets,
    prefix: '/assets/',
    // Vite puts a content hash in every asset's name.
    immutable: true,
    maxAge: '365d',
    index: false,
    list: false,
    // One route per built file: any other path under /assets/ is a plain 404.
    wildcard: false,
  });
  app.get('/', { schema: { hide: true } }, async (_request, reply) =>
    reply.header('cache-control', 'no-cache').sendFile('index.html', root, { cacheControl: false }),
  );
};
