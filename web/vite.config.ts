// The dashboard: Preact, built by Vite into dist/web, which the pipeline
// serves at / (src/pipeline/routes/dashboard.ts). `npm run build:web` builds
// it; `npm run dev:web` serves it with reloads, the API proxied to :8000.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = path.dirname(fileURLToPath(import.meta.url));

export default defineConfig(({ command }) => ({
  root: here,
  base: '/',
  // JSX compiled by Vite's own transformer (Oxc) to Preact's runtime: no Babel.
  // The development form (each element's file and line) only when serving: Oxc
  // picks it from NODE_ENV otherwise, and the test suite (NODE_ENV=test) would
  // build a bundle 20 kB larger that names the build machine's paths.
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact', development: command === 'serve' } },
  build: {
    outDir: path.join(here, '..', 'dist', 'web'),
    emptyOutDir: true,
    target: 'es2022',
    // Small enough that one file of each kind is fastest.
    assetsInlineLimit: 0,
    reportCompressedSize: false,
  },
  server: {
    proxy: { '/api': 'http://127.0.0.1:8000' },
  },
}));
