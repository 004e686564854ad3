// Worker threads for the CPU-bound part of a large ingest (prepare-page.ts):
// decoding, parsing, validating and encoding run beside the thread that
// talks HTTP and COPY, so a run uses more than one core. Started per run,
// only for sources of many pages (a small run would spend more on starting
// a thread than it saves), and stopped when the run ends.
import { Piscina } from 'piscina';
import type { MalformedPage, PreparedPage } from './prepare-page.js';
import type { PageTask } from './page-worker.js';

/** Worker threads are started only when the source has more pages than this. */
export const WORKERS_FROM_PAGES = 8;

// Built (dist/, the image): the compiled worker. From TypeScript source (tsx,
// vitest): a bootstrap that registers tsx in the worker, then loads it.
const workerFile = import.meta.url.endsWith('.ts')
  ? new URL('./page-worker-source.mjs', import.meta.url).href
  : new URL('./page-worker.js', import.meta.url).href;

export class PageWorkers {
  private readonly pool: Piscina<PageTask, PreparedPage | MalformedPage>;

  constructor(threads: number) {
    this.pool = new Piscina({
      filename: workerFile,
      minThreads: threads,
      maxThreads: threads,
      // The app's own flags (a loader, --cpu-prof) are not the worker's business.
      execArgv: [],
    });
  }

  /** Prepares a page in a worker; the body's buffer moves to the worker. */
  prepare(page: number, body: Uint8Array): Promise<PreparedPage | MalformedPage> {
    return this.pool.run({ page, body }, { transferList: [body.buffer as ArrayBuffer] });
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
