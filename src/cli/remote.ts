// The pipeline's API, for the CLI's --url mode (undici).
import { request } from 'undici';
import type { ProgressView } from '../core/ingest/progress.js';
import type { RejectedRecord, RunRecord } from '../core/ingest/runs-repository.js';
import type { ChangeKind, CustomerChange, HistoryEntry } from '../core/ingest/changes-repository.js';
import type { RevertResult } from '../core/ingest/revert.js';
import { CliError, EXIT } from './output.js';
import { HttpStatusError, sseEvents } from './sse.js';

export interface PageOf<T> {
  data: T[];
  total: number;
  page: number;
  limit: number;
}

export class PipelineClient {
  readonly base: string;
  readonly #headers: Record<string, string>;

  constructor(url: string, apiKey: string | null) {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new CliError(`--url must be the pipeline's base URL, like http://127.0.0.1:8000 (got "${url}")`, EXIT.usage);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      throw new CliError(`--url must start with http:// or https:// (got "${url}")`, EXIT.usage);
    }
    this.base = url.replace(/\/+$/, '');
    this.#headers = apiKey ? { authorization: `Bearer ${apiKey}` } : {};
  }

  #unreachable(err: unknown): CliError {
    const e = err as { code?: string; message?: string };
    return new CliError(`cannot reach the pipeline at ${this.base}: ${e.code ?? e.message ?? String(err)}`, EXIT.failed);
  }

  /** A problem answer as a one-line CliError (401 is a usage error: the key is missing or wrong). */
  #problem(status: number, text: string): CliError {
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // not JSON
    }
    const detail = typeof body.detail === 'string' ? body.detail : text.slice(0, 200) || `HTTP ${status}`;
    if (status === 401) return new CliError(`the pipeline wants its API key: ${detail} (pass --api-key or set INGEST_API_KEY)`, EXIT.usage);
    if (status === 409) {
      const runId = typeof body.run_id === 'number' ? body.run_id : null;
      // A refused revert says why (reason, the conflicting runs and customers).
      const refusal = typeof body.reason === 'string' ? { reason: body.reason, runs: body.runs, conflicts: body.conflicts } : {};
      return new CliError(detail, EXIT.conflict, { status: 'conflict', running_run_id: runId, error: detail, ...refusal });
    }
    return new CliError(`the pipeline answered ${status}: ${detail}`, EXIT.failed);
  }

  async #json<T>(
    method: 'GET' | 'POST',
    path: string,
    expect: number[],
  ): Promise<{ status: number; body: T; headers: Record<string, unknown> }> {
    let res;
    try {
      res = await request(`${this.base}${path}`, { method, headers: { accept: 'application/json', ...this.#headers } });
    } catch (err) {
      throw this.#unreachable(err);
    }
    const text = await res.body.text();
    if (!expect.includes(res.statusCode)) throw this.#problem(res.statusCode, text);
    return { status: res.statusCode, body: JSON.parse(text) as T, headers: res.headers };
  }

  /** Starts an asynchronous ingest; its run id. `query`: dry_run, delete_missing, allow_mass_delete. */
  async startIngest(query: Record<string, string> = {}): Promise<number> {
    const extra = new URLSearchParams(query).toString();
    const { body } = await this.#json<{ run_id: number }>('POST', `/api/ingest?mode=async${extra ? `&${extra}` : ''}`, [202]);
    return body.run_id;
  }

  /** Follows a run until it ends: progress callbacks, then its final record. */
  async follow(runId: number, onProgress: (p: ProgressView) => void, signal?: AbortSignal): Promise<RunRecord> {
    try {
      for await (const e of sseEvents(`${this.base}/api/ingest/runs/${runId}/events`, { headers: this.#headers, signal })) {
        if (e.event === 'progress') onProgress(JSON.parse(e.data) as ProgressView);
        else if (e.event === 'done' || e.event === 'failed') return JSON.parse(e.data) as RunRecord;
      }
    } catch (err) {
      if (err instanceof HttpStatusError) throw this.#problem(err.status, err.body);
      if (signal?.aborted) throw err;
      throw this.#unreachable(err);
    }
    // The stream closed without a final event (the pipeline stopped): read the row.
    return this.run(runId);
  }

  async run(runId: number): Promise<RunRecord> {
    return (await this.#json<RunRecord>('GET', `/api/ingest/runs/${runId}`, [200])).body;
  }

  async runs(page: number, limit: number): Promise<PageOf<RunRecord>> {
    return (await this.#json<PageOf<RunRecord>>('GET', `/api/ingest/runs?page=${page}&limit=${limit}`, [200])).body;
  }

  async changes(runId: number, change: ChangeKind | null, page: number, limit: number): Promise<PageOf<CustomerChange>> {
    const filter = change ? `&change=${change}` : '';
    return (
      await this.#json<PageOf<CustomerChange>>('GET', `/api/ingest/runs/${runId}/changes?page=${page}&limit=${limit}${filter}`, [200])
    ).body;
  }

  async history(customerId: string, page: number, limit: number): Promise<PageOf<HistoryEntry>> {
    const path = `/api/customers/${encodeURIComponent(customerId)}/history?page=${page}&limit=${limit}`;
    return (await this.#json<PageOf<HistoryEntry>>('GET', path, [200])).body;
  }

  async revert(runId: number): Promise<RevertResult> {
    return (await this.#json<RevertResult>('POST', `/api/ingest/runs/${runId}/revert`, [200])).body;
  }

  async rejected(runId: number, page: number, limit: number): Promise<PageOf<RejectedRecord>> {
    return (await this.#json<PageOf<RejectedRecord>>('GET', `/api/ingest/runs/${runId}/rejected?page=${page}&limit=${limit}`, [200])).body;
  }
}
