// Reads pages of the source API over a keep-alive undici pool, in one retry
// loop (fetchPage): transport errors, timeouts, 5xx and 429 are retried with
// exponential backoff, full jitter and Retry-After, and so is a page whose
// body is cut short or malformed; every retry of a page counts against
// SOURCE_MAX_RETRIES, every wait against the run's SOURCE_RETRY_BUDGET_MS.
import { Pool, type Dispatcher } from 'undici';
import type { MalformedPage, PreparedPage } from './prepare-page.js';

export class SourceError extends Error {
  override name = 'SourceError';
  constructor(
    message: string,
    readonly page?: number,
  ) {
    super(message);
  }
}

/** Turns a page's body into a prepared page, or says why it is not one (prepare-page.ts). */
export type PagePreparer = (page: number, body: Uint8Array) => PreparedPage | MalformedPage;

export interface RetryPolicy {
  maxRetries: number;
  baseMs: number;
  maxMs: number;
  /** Total time one run may spend waiting between retries, Retry-After included. */
  budgetMs: number;
}

export interface SourceClientOptions {
  baseUrl: string;
  /** Deadline of one request, from connecting to the body's last byte (SOURCE_TIMEOUT_MS). */
  timeoutMs: number;
  /** Largest page body read (SOURCE_MAX_PAGE_BYTES): past it, the answer is refused unread. */
  maxPageBytes: number;
  connections: number;
  retry: RetryPolicy;
  /** Called once per retry, with why. */
  onRetry?: (info: { page: number | null; attempt: number; delayMs: number; reason: string }) => void;
  /** Aborts every request in flight and every wait (shutdown; a SourceError as reason is thrown as it is). */
  signal?: AbortSignal;
}

const RETRY_STATUS = [408, 425, 429, 500, 502, 503, 504];
const RETRY_CODES = [
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETDOWN',
  'ENETUNREACH',
  'EHOSTDOWN',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
];

/** Milliseconds a Retry-After value asks for (delta-seconds or an HTTP date), or null. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | null {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v.trim() === '') return null;
  if (/^\s*\d+\s*$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/**
 * Exponential backoff with jitter (between half and all of base·2^(n-1),
 * capped at maxMs); a server's Retry-After is honoured in full (the run's
 * retry budget bounds it).
 */
export function retryDelay(policy: RetryPolicy, attempt: number, retryAfterMs: number | null): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** (attempt - 1));
  const jittered = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
  return retryAfterMs === null ? jittered : Math.max(retryAfterMs, jittered);
}

/** A transport error another request may not meet: a reset, a refused connection, a timeout. */
function isTransient(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && RETRY_CODES.includes(code);
}

function describe(err: unknown): string {
  const e = err as { statusCode?: number; code?: string; message?: string };
  if (e.statusCode) return `HTTP ${e.statusCode}`;
  return e.code ? `${e.code}${e.message ? `: ${e.message}` : ''}` : String(e.message ?? err);
}

/** Why a signal was aborted, as an Error (a reason may be anything). */
const abortReason = (signal: AbortSignal): Error =>
  signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason ?? 'aborted'));

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(abortReason(signal));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(abortReason(signal!));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/** Bytes of an error answer read for its reason, and characters of it quoted. */
const REASON_BYTES = 4096;
const REASON_CHARS = 200;

/**
 * Why the source refused, from the start of its answer: a problem's (or any
 * JSON error's) `detail`, `title`, `message` or `error`, else its text;
 * control and format characters become spaces, and it is cut to
 * REASON_CHARS characters. Null when it said nothing.
 */
async function sourceReason(res: Dispatcher.ResponseData): Promise<string | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= REASON_BYTES) break; // leaving the loop closes the body
  }
  const text = new TextDecoder().decode(Buffer.concat(chunks).subarray(0, REASON_BYTES));
  let said = text;
  if (/json/i.test(String(res.headers['content-type'] ?? ''))) {
    try {
      const e = JSON.parse(text) as Record<string, unknown>;
      const field = [e.detail, e.title, e.message, e.error].find((v) => typeof v === 'string' && v.trim() !== '');
      if (typeof field === 'string') said = field;
    } catch {
      // Not JSON after all, or cut at REASON_BYTES: its text will do.
    }
  }
  const printable = said.replace(/[\p{C}\p{Z}]+/gu, ' ').trim();
  const chars = Array.from(printable);
  return chars.length === 0 ? null : chars.length > REASON_CHARS ? `${chars.slice(0, REASON_CHARS).join('')}…` : printable;
}

/** The abort reason of a request past its deadline. */
class DeadlineExceeded extends Error {
  override name = 'DeadlineExceeded';
}

/** One request's outcome: a body, or why not and whether another request may fix it. */
type Attempt =
  { ok: true; body: Uint8Array } | { ok: false; retry: boolean; reason: string; retryAfterMs: number | null; malformed?: boolean };

export class SourceClient {
  private readonly pool: Pool;
  private readonly basePath: string;

  constructor(private readonly opts: SourceClientOptions) {
    const u = new URL(opts.baseUrl);
    this.basePath = u.pathname.replace(/\/+$/, '');
    this.pool = new Pool(u.origin, {
      connections: opts.connections,
      // request() holds each request to one deadline, headers and body
      // together: undici's own timeouts only bound the wait for the headers
      // and the gap between two chunks, which a body dripping a byte a
      // second never exceeds.
      headersTimeout: 0,
      bodyTimeout: 0,
      connect: { timeout: opts.timeoutMs },
      keepAliveTimeout: 10_000,
    });
  }

  /**
   * One GET within SOURCE_TIMEOUT_MS, connection to last byte: the body of a
   * 200, or why not. Never throws; a cancelled run is the caller's to see.
   */
  private async request(path: string): Promise<Attempt> {
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(new DeadlineExceeded('SOURCE_TIMEOUT_MS')), this.opts.timeoutMs);
    const shutdown = this.opts.signal;
    const onShutdown = () => deadline.abort(shutdown!.reason);
    if (shutdown?.aborted) onShutdown();
    else shutdown?.addEventListener('abort', onShutdown, { once: true });
    try {
      return await this.exchange(path, deadline.signal);
    } finally {
      clearTimeout(timer);
      shutdown?.removeEventListener('abort', onShutdown);
    }
  }

  private async exchange(path: string, signal: AbortSignal): Promise<Attempt> {
    const timedOut = (): Attempt => ({
      ok: false,
      retry: true,
      reason: `no complete answer within ${this.opts.timeoutMs} ms (SOURCE_TIMEOUT_MS)`,
      retryAfterMs: null,
    });
    let res: Dispatcher.ResponseData;
    try {
      res = await this.pool.request({
        path: this.basePath + path,
        method: 'GET',
        headers: { accept: 'application/json' },
        signal,
      });
    } catch (err) {
      if (signal.reason instanceof DeadlineExceeded) return timedOut();
      return { ok: false, retry: isTransient(err), reason: describe(err), retryAfterMs: null };
    }
    if (res.statusCode !== 200) {
      const retry = RETRY_STATUS.includes(res.statusCode);
      let reason = `HTTP ${res.statusCode}`;
      if (retry) await res.body.dump({ limit: 128 * 1024, signal }).catch(() => {});
      else {
        // A refusal is final: say why, in the source's own words.
        const said = await sourceReason(res).catch(() => null);
        if (said) reason += `: ${said}`;
      }
      return { ok: false, retry, reason, retryAfterMs: parseRetryAfter(res.headers['retry-after']) };
    }
    const max = this.opts.maxPageBytes;
    const tooLarge = (reason: string): Attempt => {
      // Not read to its end: undici closes the connection, the source stops sending.
      res.body.destroy();
      return { ok: false, retry: false, reason: `${reason} is larger than SOURCE_MAX_PAGE_BYTES (${max} bytes)`, retryAfterMs: null };
    };
    const announced = Number(res.headers['content-length']);
    if (announced > max) return tooLarge(`its body of ${announced} bytes (Content-Length)`);
    try {
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > max) return tooLarge(`its body (refused unread past ${size} bytes)`);
        chunks.push(chunk);
      }
      return { ok: true, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size) };
    } catch (err) {
      if (signal.reason instanceof DeadlineExceeded) return timedOut();
      // A body cut short (a reset) is a malformed page: ours to retry.
      return { ok: false, retry: true, reason: `body read failed: ${describe(err)}`, retryAfterMs: null, malformed: true };
    }
  }

  /**
   * One page, prepared by `prepare`, requested again until it is a
   * well-formed page, the source says no for good, or the retries run out.
   * What `prepare` throws is not the source's fault and is not retried.
   */
  async fetchPage(page: number, limit: number, prepare: PagePreparer): Promise<PreparedPage> {
    const policy = this.opts.retry;
    for (let retries = 0; ; retries++) {
      let failed = await this.request(`/api/customers?page=${page}&limit=${limit}`);
      if (this.opts.signal?.aborted) throw this.stopped(page);
      if (failed.ok) {
        const prepared = prepare(page, failed.body);
        if (prepared.ok) return prepared;
        failed = { ok: false, retry: true, reason: prepared.reason, retryAfterMs: null, malformed: true };
      }
      const { reason, malformed } = failed;
      const what = malformed ? `source page ${page} is malformed` : `source page ${page} failed`;
      if (!failed.retry) throw new SourceError(`${what}: ${reason}`, page);
      if (retries >= policy.maxRetries) {
        throw new SourceError(malformed ? `${what} after ${retries + 1} requests: ${reason}` : `${what}: ${reason}`, page);
      }
      const delayMs = retryDelay(policy, retries + 1, failed.retryAfterMs);
      const overBudget = this.spend(delayMs);
      if (overBudget) throw new SourceError(malformed ? `${what} (${reason}); ${overBudget}` : `${what}: ${reason}; ${overBudget}`, page);
      this.opts.onRetry?.({ page, attempt: retries + 1, delayMs, reason });
      await sleep(delayMs, this.opts.signal).catch(() => {
        throw this.stopped(page);
      });
    }
  }

  /** Why the run's signal stopped us: its own SourceError (a run limit), else a cancellation. */
  private stopped(page: number): SourceError {
    const reason: unknown = this.opts.signal?.reason;
    return reason instanceof SourceError ? reason : new SourceError('ingest cancelled', page);
  }

  private waitedMs = 0;

  /** Books a wait against the run's retry budget; says why not when it would overrun. */
  private spend(delayMs: number): string | null {
    const budget = this.opts.retry.budgetMs;
    if (this.waitedMs + delayMs > budget) {
      return `retry budget exhausted (a ${Math.ceil(delayMs / 1000)} s wait after ${Math.round(this.waitedMs / 1000)} s of ${Math.round(budget / 1000)} s spent)`;
    }
    this.waitedMs += delayMs;
    return null;
  }

  async close(): Promise<void> {
    await this.pool.close().catch(() => {});
  }
}
