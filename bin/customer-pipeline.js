#!/usr/bin/env node
// The `customer-pipeline` command. Runs the compiled CLI (dist/cli.js) when it
// is there and not older than the sources (the container image, a build);
// otherwise the TypeScript source through tsx, so that a checkout works right
// after `npm install`, and an edit is never hidden behind a stale build.
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const compiled = path.join(root, 'dist', 'cli.js');
const sources = path.join(root, 'src');

function newestSource() {
  let newest = 0;
  for (const entry of readdirSync(sources, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) newest = Math.max(newest, statSync(path.join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

const useCompiled = existsSync(compiled) && (!existsSync(sources) || statSync(compiled).mtimeMs >= newestSource());
if (useCompiled) {
  await import(pathToFileURL(compiled).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(pathToFileURL(path.join(sources, 'cli.ts')).href);
}
