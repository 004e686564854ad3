// Reads pages of the source API over a keep-alive undici pool. Transport
// errors, timeouts, 5xx and 429 are retried by undici's RetryAgent with a
// retry policy of ours (exponential backoff, full jitter, Retry-After); a page
// whose body is malformed is re-requested under the same policy.
import { Pool, RetryAgent, type Dispatcher } from 'undici';
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
  timeoutMs: number;
  connections: number;
  retry: RetryPolicy;
  /** Called once per retry, with why. */
  onRetry?: (info: { page: number | null; attempt: number; delayMs: number; reason: string }) => void;
  /** Aborts every request in flight and every wait (shutdown). */
  signal?: AbortSignal;
}

/** Per-request state shared with the retry policy: has the response reached us? */
interface Attempt {
  responded: boolean;
}

/**
 * Retries spent on one page, by undici's RetryAgent (transport errors, 5xx,
 * 429) and by fetchPage (malformed bodies) alike: SOURCE_MAX_RETRIES bounds
 * their sum, so a page costs at most SOURCE_MAX_RETRIES + 1 requests.
 */
interface PageRetries {
  used: number;
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

function describe(err: unknown): string {
  const e = err as { statusCode?: number; code?: string; message?: string };
  if (e.statusCode) return `HTTP ${e.statusCode}`;
  return e.code ? `${e.code}${e.message ? `: ${e.message}` : ''}` : String(e.message ?? err);
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

export class SourceClient {
  private readonly pool: Pool;
  private readonly agent: RetryAgent;
  private readonly origin: string;
  private readonly basePath: string;

  constructor(private readonly opts: SourceClientOptions) {
    const u = new URL(opts.baseUrl);
    this.origin = u.origin;
    this.basePath = u.pathname.replace(/\/+$/, '');
    this.pool = new Pool(this.origin, {
      connections: opts.connections,
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
      connect: { timeout: opts.timeoutMs },
      keepAliveTimeout: 10_000,
    });
    const policy = opts.retry;
    this.agent = new RetryAgent(this.pool, {
      maxRetries: policy.maxRetries,
      statusCodes: RETRY_STATUS,
      errorCodes: RETRY_CODES,
      retry: (err, { opts: reqOpts }, cb) => {
        const e = err as { statusCode?: number; code?: string; headers?: Record<string, string | string[]> };
        const retryable =
          (e.statusCode !== undefined && RETRY_STATUS.includes(e.statusCode)) ||
          (e.statusCode === undefined && e.code !== undefined && RETRY_CODES.includes(e.code));
        // A body cut after its headers were handed to us: undici would resume
        // it with a Range request, which the source does not serve (the
        // resume fails, after one more request and one more counted retry).
        // Let it fail here; fetchPage re-requests the page, counted once.
        // getBody sends both with every request (undici passes unknown options through).
        const { attempt, retries } = reqOpts as unknown as { attempt: Attempt; retries: PageRetries };
        const bodyStarted = attempt.responded;
        const spent = retries.used;
        if (!retryable || bodyStarted || spent >= policy.maxRetries || this.opts.signal?.aborted) return cb(err);
        const delayMs = retryDelay(policy, spent + 1, parseRetryAfter(e.headers?.['retry-after']));
        const overBudget = this.spend(delayMs);
        if (overBudget) return cb(new Error(`${describe(err)}; ${overBudget}`));
        retries.used++;
        const page = Number(new URLSearchParams(String(reqOpts.path).split('?')[1]).get('page')) || null;
        this.opts.onRetry?.({ page, attempt: spent + 1, delayMs, reason: describe(err) });
        sleep(delayMs, this.opts.signal).then(
          () => cb(null),
          () => cb(err),
        );
      },
    });
  }

  private async getBody(path: string, retries: PageRetries): Promise<Uint8Array> {
    let res: Awaited<ReturnType<RetryAgent['request']>>;
    // Travels with the request options to the retry policy above (undici
    // passes unknown options through to it).
    const attempt: Attempt = { responded: false };
    const request: Dispatcher.RequestOptions & { attempt: Attempt; retries: PageRetries } = {
      origin: this.origin,
      path: this.basePath + path,
      method: 'GET',
      headers: { accept: 'application/json' },
      signal: this.opts.signal,
      attempt,
      retries,
    };
    try {
      res = await this.agent.request(request);
      attempt.responded = true;
    } catch (err) {
      // RetryAgent has already spent its retries on this.
      throw Object.assign(new Error(describe(err)), { permanent: true });
    }
    if (res.statusCode !== 200) {
      await res.body.dump().catch(() => {});
      throw Object.assign(new Error(`HTTP ${res.statusCode}`), { permanent: true });
    }
    try {
      return await res.body.bytes();
    } catch (err) {
      // A body cut short (reset, timeout) is a malformed page: ours to retry.
      throw new Error(`body read failed: ${describe(err)}`);
    }
  }

  /**
   * One page, prepared by `prepare`, retried until it is a well-formed page or
   * the retries run out. What `prepare` throws is not the source's fault and
   * is not retried.
   */
  async fetchPage(page: number, limit: number, prepare: PagePreparer): Promise<PreparedPage> {
    const policy = this.opts.retry;
    const retries: PageRetries = { used: 0 };
    for (;;) {
      let body: Uint8Array | Error;
      try {
        body = await this.getBody(`/api/customers?page=${page}&limit=${limit}`, retries);
      } catch (err) {
        if (this.opts.signal?.aborted) throw new SourceError('ingest cancelled', page);
        if ((err as { permanent?: boolean }).permanent) {
          throw new SourceError(`source page ${page} failed: ${(err as Error).message}`, page);
        }
        body = err as Error;
      }
      let reason: string;
      if (body instanceof Error) reason = body.message;
      else {
        const prepared = prepare(page, body);
        if (prepared.ok) return prepared;
        reason = prepared.reason;
      }
      if (retries.used >= policy.maxRetries) {
        throw new SourceError(`source page ${page} is malformed after ${retries.used + 1} requests: ${reason}`, page);
      }
      retries.used++;
      const delayMs = retryDelay(policy, retries.used, null);
      const overBudget = this.spend(delayMs);
      if (overBudget) throw new SourceError(`source page ${page} is malformed (${reason}); ${overBudget}`, page);
      this.opts.onRetry?.({ page, attempt: retries.used, delayMs, reason });
      await sleep(delayMs, this.opts.signal).catch(() => {
        throw new SourceError('ingest cancelled', page);
      });
    }
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
    await this.agent.close().catch(() => {});
  }
}
