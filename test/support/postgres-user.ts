// Server processes (PostgreSQL's binaries, PgBouncer) refuse to run as root:
// as root the tests run them as the `postgres` OS user, as
// src/core/db/database.ts does for the embedded server.
import { execFileSync } from 'node:child_process';
import { chown } from 'node:fs/promises';
import { userInfo } from 'node:os';

export interface OsUser {
  uid: number;
  gid: number;
}

/** The `postgres` user when this process is root, else null (run as ourselves). */
export function serverUser(): OsUser | null {
  if (userInfo().uid !== 0) return null;
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

/** Hands `paths` to the server user (when there is one). */
export async function giveToServerUser(...paths: string[]): Promise<void> {
  const user = serverUser();
  if (!user) return;
  for (const p of paths) await chown(p, user.uid, user.gid);
}
