// The pipeline's API as the dashboard uses it: same origin, JSON, and the
// run events read with fetch (not EventSource) so that the bearer key, when
// the pipeline asks for one, goes along.
import { createParser } from 'eventsource-parser';

// The API's own types, imported for their shape only (erased from the bundle):
// the dashboard cannot drift from what the routes answer.
import type { Customer } from '../../src/core/customer';
import type { ProgressView } from '../../src/core/ingest/progress';
import type { RejectedRecord, RunRecord } from '../../src/core/ingest/runs-repository';

export type { Customer };
export type RunProgress = ProgressView;
export type Rejected = RejectedRecord;
/** A run record as GET /api/ingest/runs/:id answers it: with live progress while it runs. */
export type Run = RunRecord & { progress?: ProgressView };

export type ChangeKind = 'insert' | 'update' | 'delete';
/** A field of a change set's images (every field but the key). */
export type ChangeField = Exclude<keyof Customer, 'customer_id'>;

/** One customer's change in a run (GET /api/ingest/runs/:id/changes). */
export interface Change {
  customer_id: string;
  change: ChangeKind;
  /** The fields whose values differ between before and after. */
  fields: ChangeField[];
  /** Null for an insert. */
  before: Customer | null;
  /** Null for a delete. */
  after: Customer | null;
}

export interface ChangesPage extends Page<Change> {
  run_id: number;
  dry_run: boolean;
  changes_pruned_at: string | null;
}

/** One run that changed a customer (GET /api/customers/:id/history), newest first. */
export interface HistoryEntry extends Omit<Change, 'customer_id'> {
  run_id: number;
  at: string | null;
}

/** What a revert answers (POST /api/ingest/runs/:id/revert). */
export interface RevertResult {
  run_id: number;
  reverts: number;
  inserted: number;
  updated: number;
  deleted: number;
}

export interface Page<T> {
  data: T[];
  total: number;
  page: number;
  limit: number;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly body: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

const KEY_STORAGE = 'customer-pipeline.api-key';

export const apiKey = {
  get: (): string => sessionStorage.getItem(KEY_STORAGE) ?? '',
  set: (key: string) => (key ? sessionStorage.setItem(KEY_STORAGE, key) : sessionStorage.removeItem(KEY_STORAGE)),
};

function headers(): Record<string, string> {
  const key = apiKey.get();
  return key ? { authorization: `Bearer ${key}` } : {};
}

async function failure(res: Response): Promise<ApiError> {
  let body: Record<string, unknown> = {};
  try {
    body = (await res.json()) as Record<string, unknown>;
  } catch {
    // not a problem document
  }
  const detail = (typeof body.detail === 'string' ? body.detail : res.statusText) || `HTTP ${res.status}`;
  const hint = res.status === 401 ? ': type the API key (INGEST_API_KEY) in the header' : '';
  return new ApiError(res.status, `${detail}${hint}`, body);
}

export async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  const res = await fetch(path, { headers: { accept: 'application/json', ...headers() }, signal });
  if (!res.ok) throw await failure(res);
  return (await res.json()) as T;
}

/**
 * Starts an asynchronous ingest (a dry run: the whole run, nothing written to
 * customers); resolves with its run id once the run holds the lock.
 */
export async function startIngest(opts: { dryRun?: boolean } = {}): Promise<number> {
  const res = await fetch(`/api/ingest?mode=async${opts.dryRun ? '&dry_run=true' : ''}`, { method: 'POST', headers: headers() });
  if (res.status !== 202) throw await failure(res);
  return ((await res.json()) as { run_id: number }).run_id;
}

/** Reverts a run (a run of its own); a refusal is an ApiError 409 whose body has `reason`. */
export async function revertRun(id: number): Promise<RevertResult> {
  const res = await fetch(`/api/ingest/runs/${id}/revert`, { method: 'POST', headers: { accept: 'application/json', ...headers() } });
  if (!res.ok) throw await failure(res);
  return (await res.json()) as RevertResult;
}

export type RunEvent = { type: 'progress'; progress: RunProgress } | { type: 'done' | 'failed'; run: Run };

/**
 * Follows a run's event stream until its final event. Reconnects (after a
 * pause) when the connection drops before the end; stops when `signal` aborts.
 */
export async function followRun(id: number, onEvent: (e: RunEvent) => void, signal: AbortSignal): Promise<void> {
  for (;;) {
    let ended = false;
    try {
      const res = await fetch(`/api/ingest/runs/${id}/events`, { headers: { accept: 'text/event-stream', ...headers() }, signal });
      if (!res.ok || !res.body) throw await failure(res);
      const parser = createParser({
        onEvent: (m) => {
          if (m.event === 'progress') onEvent({ type: 'progress', progress: JSON.parse(m.data) as RunProgress });
          else if (m.event === 'done' || m.event === 'failed') {
            ended = true;
            onEvent({ type: m.event, run: JSON.parse(m.data) as Run });
          }
        },
      });
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        parser.feed(value);
      }
    } catch (err) {
      if (signal.aborted || (err instanceof ApiError && err.status < 500)) throw err;
    }
    if (ended || signal.aborted) return;
    await new Promise((r) => setTimeout(r, 2000));
  }
}
