// The dashboard's assets (dist/web) for the tests that load it: built once
// per run when missing or older than web/.
import { ensureWebBuilt } from '../../web/ensure-built.js';

export async function setup(): Promise<void> {
  await ensureWebBuilt((line) => console.log(line));
}
