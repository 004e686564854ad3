// Fault injection for the mock source: the failures a real source API shows
// (slowness, 5xx, 429 with Retry-After, resets, cut or malformed bodies), on
// demand and reproducibly, so the pipeline's retries can be tested for real.
//
// A fault spec is written as one compact string — in MOCK_FAULTS at start, or
// per request in the `x-mock-fault` header or the `fault` query parameter,
// which then replaces the start spec for that request:
//
//   key=value pairs separated by ",", or "none" / "" for no faults.
//   e.g.  errorRate=0.2,errorStatus=500,seed=7
//         failFirst=2,failWith=rateLimit,retryAfter=1
//
// See FAULT_SPEC_DOC below for every key. Faults apply to /api/customers
// routes only (never health, docs or the OpenAPI document).
//
// Determinism: each spec has its own request counter and a PRNG seeded with
// `seed`, so the same sequence of requests sees the same faults on every run.
// (Requests sent concurrently reach the server in an order the network
// decides; the n-th request to arrive always gets the n-th decision.)
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { Readable } from 'node:stream';
import { sendProblem } from '../http/errors.js';
import { seededRandom } from './random.js';

export const FAULT_KINDS = ['error', 'rateLimit', 'reset', 'truncate', 'malformed', 'wrongShape', 'slow'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultSpec {
  /** Added before every answer, faulty or not. */
  latencyMs?: number;
  /** Up to this much more latency, drawn from the PRNG. */
  latencyJitterMs?: number;
  /** Share of requests answered `errorStatus` (0..1). */
  errorRate?: number;
  /** Status of injected errors (default 503). */
  errorStatus?: number;
  /** Every Nth request answers 429 with a Retry-After. */
  rateLimitEvery?: number;
  /** Seconds a 429 asks the client to wait (default 1). */
  retryAfter?: number;
  /** How a 429 states its Retry-After: delta-seconds (default) or an HTTP date. */
  retryAfterFormat?: 'seconds' | 'date';
  /** Share of requests whose connection is reset with no response. */
  resetRate?: number;
  /** Every Nth request's connection is reset with no response. */
  resetEvery?: number;
  /** Share of requests whose body is cut in half. */
  truncateRate?: number;
  /**
   * `cut` (default): the headers promise the whole body, half of it is sent,
   * then the connection is closed. `json`: a complete 200 response whose body
   * is the first half of the JSON.
   */
  truncateMode?: 'cut' | 'json';
  /** Share of requests answered 200 with a body that is not JSON. */
  malformedRate?: number;
  /** Share of requests answered 200 with JSON that has no `data` array. */
  wrongShapeRate?: number;
  /** Share of requests answered normally after `slowMs` (longer than a client's timeout). */
  slowRate?: number;
  /** Delay of a `slow` fault (default 10000). */
  slowMs?: number;
  /** The first N requests get the `failWith` fault, then the other settings apply. */
  failFirst?: number;
  /** Every request after the first N gets the `failWith` fault (a source that dies mid-run). */
  failAfter?: number;
  /** The fault of failFirst / failAfter (default `error`). */
  failWith?: FaultKind;
  /** Seed of the PRNG (default 0). */
  seed?: number;
}

export class FaultSpecError extends Error {
  override name = 'FaultSpecError';
}

/** One paragraph per key, for the OpenAPI description of the faulty routes. */
export const FAULT_SPEC_DOC = `**Fault injection** (testing). A fault spec in the \`x-mock-fault\` header or the \`fault\` query
parameter replaces the server's start spec (MOCK_FAULTS) for this request. Format: \`key=value\` pairs separated
by \`,\` (\`none\` for no faults), e.g. \`failFirst=2,failWith=rateLimit,retryAfter=1\`.
Keys: \`latencyMs\`, \`latencyJitterMs\` (added to every answer); \`errorRate\` 0..1 with \`errorStatus\` (503);
\`rateLimitEvery\` N (every Nth request is 429 with \`Retry-After: retryAfter\` (1) seconds, or an HTTP date with
\`retryAfterFormat=date\`); \`resetRate\` / \`resetEvery\` (connection reset, no response); \`truncateRate\` with
\`truncateMode\` \`cut\` (half the body, then the connection closes) or \`json\` (a complete 200 with half the JSON);
\`malformedRate\` (200, not JSON); \`wrongShapeRate\` (200 JSON without \`data\`); \`slowRate\` with \`slowMs\` (10000);
\`failFirst\` N / \`failAfter\` N with \`failWith\` (error, rateLimit, reset, truncate, malformed, wrongShape, slow):
the first N requests fail / every request after the first N fails; \`seed\` (0). Each spec keeps its own request
counter and seeded PRNG, so the same requests see the same faults every run. Faulty answers carry
\`x-mock-fault-applied: <kind>\`.`;

type Key = keyof FaultSpec;
const RATE_KEYS = ['errorRate', 'resetRate', 'truncateRate', 'malformedRate', 'wrongShapeRate', 'slowRate'] as const;
const INT_LIMITS: Partial<Record<Key, [number, number]>> = {
  latencyMs: [0, 600_000],
  latencyJitterMs: [0, 600_000],
  errorStatus: [400, 599],
  rateLimitEvery: [1, 1_000_000_000],
  retryAfter: [0, 86_400],
  resetEvery: [1, 1_000_000_000],
  slowMs: [0, 600_000],
  failFirst: [0, 1_000_000_000],
  failAfter: [0, 1_000_000_000],
  seed: [0, 2 ** 32 - 1],
};
const ENUMS: Partial<Record<Key, readonly string[]>> = {
  retryAfterFormat: ['seconds', 'date'],
  truncateMode: ['cut', 'json'],
  failWith: FAULT_KINDS,
};
const KEYS = new Set<string>([...RATE_KEYS, ...Object.keys(INT_LIMITS), ...Object.keys(ENUMS)]);

function parseValue(key: string, raw: unknown): unknown {
  if (!KEYS.has(key)) throw new FaultSpecError(`unknown fault setting "${key}" (known: ${[...KEYS].join(', ')})`);
  const k = key as Key;
  const enumValues = ENUMS[k];
  if (enumValues) {
    if (typeof raw !== 'string' || !enumValues.includes(raw)) {
      throw new FaultSpecError(`${key} must be one of ${enumValues.join(', ')}, got ${JSON.stringify(raw)}`);
    }
    return raw;
  }
  const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
  if ((RATE_KEYS as readonly string[]).includes(key)) {
    if (!Number.isFinite(n) || n < 0 || n > 1) throw new FaultSpecError(`${key} must be a number from 0 to 1, got ${JSON.stringify(raw)}`);
    return n;
  }
  const [min, max] = INT_LIMITS[k]!;
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new FaultSpecError(`${key} must be a whole number from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

const SYNTAX = 'a fault spec is key=value pairs separated by "," (e.g. errorRate=0.2,errorStatus=500,seed=7), or "none"';

/** Parses a spec's text; null means no faults. Throws FaultSpecError. */
export function parseFaultSpec(text: string): FaultSpec | null {
  const t = text.trim();
  if (t === '' || t === 'none') return null;
  const entries = t.split(',').map((pair): [string, string] => {
    const m = /^\s*([A-Za-z]+)=([\w.+-]+)\s*$/.exec(pair);
    if (!m) throw new FaultSpecError(`"${pair.trim()}" is not key=value: ${SYNTAX}`);
    return [m[1]!, m[2]!];
  });
  return checkFaultSpec(Object.fromEntries(entries.map(([k, v]) => [k, parseValue(k, v)])) as FaultSpec);
}

/** Validates a spec given as an object; returns it. Throws FaultSpecError. */
export function checkFaultSpec(spec: FaultSpec): FaultSpec {
  for (const [k, v] of Object.entries(spec)) if (v !== undefined) parseValue(k, v);
  const sum = RATE_KEYS.reduce((s, k) => s + (spec[k] ?? 0), 0);
  if (sum > 1 + 1e-9) throw new FaultSpecError(`the rates (${RATE_KEYS.join(', ')}) add up to ${sum}, more than 1`);
  return spec;
}

/** The compact text of a spec (its identity for per-spec state). */
export function formatFaultSpec(spec: FaultSpec | null): string {
  if (!spec) return 'none';
  const parts = Object.entries(spec)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${v}`);
  return parts.length ? parts.join(',') : 'none';
}


export interface FaultDecision {
  /** 1-based number of this request under its spec. */
  n: number;
  kind: FaultKind | null;
  delayMs: number;
}

export interface FaultOutcome extends FaultDecision {
  /** The spec the decision was made under (for the per-kind parameters). */
  spec: FaultSpec;
}

class SpecState {
  private count = 0;
  private readonly random: () => number;
  constructor(readonly spec: FaultSpec) {
    this.random = seededRandom(spec.seed ?? 0);
  }

  next(): FaultDecision {
    const s = this.spec;
    const n = ++this.count;
    // Two draws per request whatever the outcome, so the n-th decision
    // depends only on (spec, n).
    const pick = this.random();
    const jitter = this.random();
    const delayMs = (s.latencyMs ?? 0) + Math.floor(jitter * ((s.latencyJitterMs ?? 0) + 1));
    let kind: FaultKind | null = null;
    if (s.failFirst !== undefined && n <= s.failFirst) kind = s.failWith ?? 'error';
    else if (s.failAfter !== undefined && n > s.failAfter) kind = s.failWith ?? 'error';
    else if (s.rateLimitEvery !== undefined && n % s.rateLimitEvery === 0) kind = 'rateLimit';
    else if (s.resetEvery !== undefined && n % s.resetEvery === 0) kind = 'reset';
    else {
      const rates: [FaultKind, number | undefined][] = [
        ['error', s.errorRate],
        ['reset', s.resetRate],
        ['truncate', s.truncateRate],
        ['malformed', s.malformedRate],
        ['wrongShape', s.wrongShapeRate],
        ['slow', s.slowRate],
      ];
      let edge = 0;
      for (const [k, rate] of rates) {
        edge += rate ?? 0;
        if (pick < edge) {
          kind = k;
          break;
        }
      }
    }
    return { n, kind, delayMs };
  }
}

/** Specs sent per request are remembered up to this many (oldest forgotten first). */
const MAX_REQUEST_SPECS = 256;

/**
 * The faults of one server: the start spec (replaceable, e.g. between two
 * runs of a test) and the specs requests bring, each with its own state.
 */
export class FaultInjector {
  private startState: SpecState | null;
  private readonly requestStates = new Map<string, SpecState>();
  /** How many times each fault was applied (all specs). */
  readonly applied: Record<FaultKind, number> = { error: 0, rateLimit: 0, reset: 0, truncate: 0, malformed: 0, wrongShape: 0, slow: 0 };
  /** Requests that went through the injector (all specs). */
  requests = 0;

  constructor(spec: FaultSpec | string | null = null) {
    this.startState = null;
    this.set(spec);
  }

  get spec(): FaultSpec | null {
    return this.startState?.spec ?? null;
  }

  /** Replaces the start spec; its counter and PRNG start over. */
  set(spec: FaultSpec | string | null): void {
    const s = typeof spec === 'string' ? parseFaultSpec(spec) : spec === null ? null : checkFaultSpec({ ...spec });
    this.startState = s ? new SpecState(s) : null;
  }

  /** Forgets every counter and PRNG state, and the tallies. */
  reset(): void {
    this.set(this.spec);
    this.requestStates.clear();
    for (const k of FAULT_KINDS) this.applied[k] = 0;
    this.requests = 0;
  }

  /**
   * The decision for the next request; `override` is the spec text a request
   * brought, if any (throws FaultSpecError when it is not a spec).
   */
  decide(override?: string): FaultOutcome {
    let state = this.startState;
    if (override !== undefined) {
      const spec = parseFaultSpec(override);
      const key = formatFaultSpec(spec);
      state = spec ? (this.requestStates.get(key) ?? null) : null;
      if (spec && !state) {
        if (this.requestStates.size >= MAX_REQUEST_SPECS) this.requestStates.delete(this.requestStates.keys().next().value!);
        state = new SpecState(spec);
        this.requestStates.set(key, state);
      }
    }
    this.requests++;
    if (!state) return { n: this.requests, kind: null, delayMs: 0, spec: {} };
    const d = state.next();
    if (d.kind) this.applied[d.kind]++;
    return { ...d, spec: state.spec };
  }
}

// ---- Fastify hooks ---------------------------------------------------------

interface Pending {
  kind: FaultKind | null;
  spec: FaultSpec;
}
const pending = new WeakMap<FastifyRequest, Pending>();

/** Resolves after `ms`, or early (false) when the response closes first (the client gave up). */
function wait(ms: number, reply: FastifyReply): Promise<boolean> {
  if (ms <= 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const onClose = () => {
      clearTimeout(t);
      resolve(false);
    };
    const t = setTimeout(() => {
      reply.raw.off('close', onClose);
      resolve(true);
    }, ms);
    reply.raw.once('close', onClose);
  });
}

function requestOverride(request: FastifyRequest): string | undefined {
  const header = request.headers['x-mock-fault'];
  if (header !== undefined) return Array.isArray(header) ? header.join(',') : header;
  const q = (request.query as Record<string, unknown> | undefined)?.fault;
  if (q !== undefined) return Array.isArray(q) ? q.join(',') : String(q);
  return undefined;
}

/** Ends the connection without an answer: a TCP reset where the platform allows it. */
function resetConnection(request: FastifyRequest, reply: FastifyReply): void {
  reply.hijack();
  const socket = request.raw.socket as (typeof request.raw.socket & { resetAndDestroy?: () => void }) | null;
  if (socket?.resetAndDestroy) socket.resetAndDestroy();
  else socket?.destroy();
}

/**
 * The onRequest and onSend hooks that apply an injector's faults to the
 * routes they are attached to. Both are callback-style: a request with no
 * fault and no delay (nearly all of them) goes through without a promise or
 * a microtask turn; only a fault or a delay takes the async path.
 */
export function faultHooks(injector: FaultInjector) {
  /** Applies a delay and a fault; resolves true when the request goes on to its handler. */
  async function apply(request: FastifyRequest, reply: FastifyReply, decision: FaultOutcome): Promise<boolean> {
    const { kind, spec } = decision;
    if (!(await wait(decision.delayMs, reply))) {
      resetConnection(request, reply);
      return false;
    }
    if (kind === null) return true;
    reply.header('x-mock-fault-applied', kind);
    switch (kind) {
      case 'error':
        sendProblem(reply, spec.errorStatus ?? 503, `Injected fault: HTTP ${spec.errorStatus ?? 503}`);
        return false;
      case 'rateLimit': {
        const seconds = spec.retryAfter ?? 1;
        // An HTTP date has whole seconds: round up so the wait is never shorter than asked.
        const value =
          spec.retryAfterFormat === 'date'
            ? new Date(Math.ceil(Date.now() / 1000) * 1000 + seconds * 1000).toUTCString()
            : String(seconds);
        reply.header('retry-after', value);
        sendProblem(reply, 429, `Injected fault: rate limited, retry after ${value}`);
        return false;
      }
      case 'reset':
        resetConnection(request, reply);
        return false;
      case 'malformed':
        reply
          .code(200)
          .type('application/json; charset=utf-8')
          .send('<html><body><h1>502 Bad Gateway</h1> injected fault: this is not JSON</body></html>');
        return false;
      case 'wrongShape':
        reply.code(200).type('application/json; charset=utf-8').send('{"items":[],"message":"injected fault: no data array"}');
        return false;
      case 'slow':
        if (await wait(spec.slowMs ?? 10_000, reply)) return true;
        resetConnection(request, reply);
        return false;
      case 'truncate':
        pending.set(request, { kind, spec });
        return true;
    }
  }

  // A hook that answers does not call done (Fastify's callback-style contract).
  function onRequest(request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
    let decision: FaultOutcome;
    try {
      decision = injector.decide(requestOverride(request));
    } catch (err) {
      const where = request.headers['x-mock-fault'] !== undefined ? 'x-mock-fault' : 'fault';
      const message = `${where}: ${(err as Error).message}`;
      sendProblem(reply, 400, message, {
        invalid_params: [{ name: where, in: where === 'fault' ? 'query' : 'header', reason: (err as Error).message }],
      });
      return;
    }
    if (decision.kind === null && decision.delayMs <= 0) return done();
    apply(request, reply, decision).then((goOn) => {
      if (goOn) done();
    }, done);
  }

  function onSend(request: FastifyRequest, reply: FastifyReply, payload: unknown, done: (err: Error | null, payload?: unknown) => void): void {
    const p = pending.get(request);
    if (p?.kind !== 'truncate') return done(null, payload);
    // The routes send their JSON as bytes; a string is any other answer's.
    const body = Buffer.isBuffer(payload) ? payload : typeof payload === 'string' ? Buffer.from(payload) : null;
    if (!body) return done(null, payload);
    const half = body.subarray(0, Math.floor(body.length / 2));
    if (p.spec.truncateMode === 'json') return done(null, half);
    // The headers promise the whole body; half of it comes, then the
    // connection closes, as when a proxy or the server dies mid-answer.
    reply.header('content-length', String(body.length));
    reply.raw.once('finish', () => request.raw.socket?.destroy());
    done(null, Readable.from([half], { objectMode: false }));
  }

  return { onRequest, onSend };
}
