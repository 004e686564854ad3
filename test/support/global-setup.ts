// Finds the PostgreSQL server the suite runs on (docs/DESIGN.md §3): DATABASE_URL,
// else the one on 127.0.0.1:5432 when it answers, else an embedded server
// started here for the length of the run. Test files make their own databases.
import { mkdtemp, chmod, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { connectionError, startEmbedded, type EmbeddedServer } from '../../src/core/db/database.js';

declare module 'vitest' {
  export interface ProvidedContext {
    adminUrl: string;
  }
}

let embedded: EmbeddedServer | null = null;
let embeddedRoot: string | null = null;

export async function setup(project: TestProject): Promise<void> {
  let url = process.env.DATABASE_URL;
  if (!url) {
    const local = 'postgres://postgres@127.0.0.1:5432/postgres';
    if ((await connectionError(local)) === null) url = local;
  }
  if (!url) {
    embeddedRoot = await mkdtemp(path.join(tmpdir(), 'cp-test-pg-'));
    await chmod(embeddedRoot, 0o755); // the server may run as the postgres user
    embedded = await startEmbedded({ dataDir: path.join(embeddedRoot, 'data'), port: 54400 + Math.floor(Math.random() * 500) });
    url = embedded.url.replace(/\/customer_db$/, '/postgres');
  }
  project.provide('adminUrl', url);
}

export async function teardown(): Promise<void> {
  await embedded?.stop();
  if (embeddedRoot) await rm(embeddedRoot, { recursive: true, force: true });
}
