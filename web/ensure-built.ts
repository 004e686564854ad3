// Builds the dashboard (web/ → dist/web) when it is missing or older than its
// sources: run before `npm start` and by the test suite's global setup, so a
// fresh clone serves it without a separate step. Builds into a temporary
// folder and swaps it in, so a pipeline serving the old build (or a second
// test run doing the same) never sees a half-written one.
import { existsSync, statSync } from 'node:fs';
import { readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const WEB = path.dirname(fileURLToPath(import.meta.url));
export const WEB_OUT = path.join(WEB, '..', 'dist', 'web');

async function newestSource(dir: string): Promise<number> {
  let newest = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    newest = Math.max(newest, statSync(path.join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

export async function isStale(): Promise<boolean> {
  const index = path.join(WEB_OUT, 'index.html');
  if (!existsSync(index)) return true;
  const sources = Math.max(
    await newestSource(path.join(WEB, 'src')),
    statSync(path.join(WEB, 'index.html')).mtimeMs,
    statSync(path.join(WEB, 'vite.config.ts')).mtimeMs,
  );
  return sources > statSync(index).mtimeMs;
}

export async function ensureWebBuilt(log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Promise<boolean> {
  if (!(await isStale())) return false;
  log('building the dashboard (web/ → dist/web) …');
  const { build } = await import('vite');
  const tmp = `${WEB_OUT}.tmp-${process.pid}`;
  const old = `${WEB_OUT}.old-${process.pid}`;
  await build({ configFile: path.join(WEB, 'vite.config.ts'), logLevel: 'warn', build: { outDir: tmp, emptyOutDir: true } });
  await rename(WEB_OUT, old).catch(() => {});
  // Another process may have swapped its build in meanwhile: then theirs stays.
  await rename(tmp, WEB_OUT).catch(() => rm(tmp, { recursive: true, force: true }));
  await rm(old, { recursive: true, force: true });
  return true;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await ensureWebBuilt();
}
