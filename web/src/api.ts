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
/**
 * A run record as GET /api/ingest/runs/:id answers it: with live progress
 * while it runs. `deleted` is not in the API yet (the change-set feature adds
 * it): the views show it only where a run has it.
 */
export type Run = RunRecord & { progress?: ProgressView; deleted?: number };

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

/** Starts an asynchronous ingest; resolves with its run id once the run holds the lock. */
export async function startIngest(): Promise<number> {
  const res = await fetch('/api/ingest?mode=async', { method: 'POST', headers: headers() });
  if (res.status !== 202) throw await failure(res);
  return ((await res.json()) as { run_id: number }).run_id;
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
