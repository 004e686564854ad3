// Fault injection for the mock source: the failures a real source API shows
// (slowness, 5xx, 429 with Retry-After, resets, cut or malformed bodies), on
// demand and reproducibly, so the pipeline's retries can be tested for real.
// What to inject is a fault spec (fault-spec.ts); this is the Fastify side.
// Faults apply to /api/customers routes only (never health, docs or OpenAPI).
//
// Determinism: each spec has its own request counter and a PRNG seeded with
// `seed`, so the same sequence of requests sees the same faults on every run.
// (Requests sent concurrently reach the server in an order the network
// decides; the n-th request to arrive always gets the n-th decision.)
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { Readable } from 'node:stream';
import { sendProblem } from '../http/errors.js';
import { seededRandom } from '../core/mock/random.js';
import { checkFaultSpec, FAULT_KINDS, formatFaultSpec, parseFaultSpec, RATE_KINDS, withDefaults } from '../core/mock/fault-spec.js';
import type { FaultKind, FaultSpec, ResolvedFaultSpec } from '../core/mock/fault-spec.js';

export type { FaultSpec } from '../core/mock/fault-spec.js';

/** What happens to one request: a delay, then a fault or none, under a spec with its defaults. */
export type FaultDecision = { kind: FaultKind | null; delayMs: number; spec: ResolvedFaultSpec };

class SpecState {
  private count = 0;
  readonly spec: ResolvedFaultSpec;
  private readonly random: () => number;
  /** Each rated kind with the upper edge of its share of [0, 1), in the order they are tried. */
  private readonly edges: [FaultKind, number][];

  constructor(spec: FaultSpec) {
    this.spec = withDefaults(spec);
    this.random = seededRandom(this.spec.seed);
    let edge = 0;
    this.edges = RATE_KINDS.map((k) => [k, (edge += this.spec[`${k}Rate`])]);
  }

  next(): FaultDecision {
    const s = this.spec;
    const n = ++this.count;
    // Two draws per request whatever the outcome, so the n-th decision depends only on (spec, n).
    const pick = this.random();
    const delayMs = s.latencyMs + Math.floor(this.random() * (s.latencyJitterMs + 1));
    let kind: FaultKind | null;
    if (n <= s.failFirst || (s.failAfter !== undefined && n > s.failAfter)) kind = s.failWith;
    else if (s.rateLimitEvery !== undefined && n % s.rateLimitEvery === 0) kind = 'rateLimit';
    else if (s.resetEvery !== undefined && n % s.resetEvery === 0) kind = 'reset';
    else kind = this.edges.find(([, edge]) => pick < edge)?.[0] ?? null;
    return { kind, delayMs, spec: s };
  }
}

/** Specs sent per request are remembered up to this many (oldest forgotten first). */
const MAX_REQUEST_SPECS = 256;
const NO_FAULT: FaultDecision = { kind: null, delayMs: 0, spec: withDefaults({}) };

/**
 * The faults of one server: the start spec (replaceable, e.g. between two
 * runs of a test) and the specs requests bring, each with its own state.
 */
export class FaultInjector {
  private start: SpecState | null = null;
  private readonly perRequest = new Map<string, SpecState>();
  /** How many times each fault was applied (all specs). */
  readonly applied = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
  /** Requests that went through the injector (all specs). */
  requests = 0;

  constructor(spec: FaultSpec | string | null = null) {
    this.set(spec);
  }

  /** Replaces the start spec; its counter and PRNG start over. Throws FaultSpecError. */
  set(spec: FaultSpec | string | null): void {
    const s = typeof spec === 'string' ? parseFaultSpec(spec) : spec && checkFaultSpec({ ...spec });
    this.start = s ? new SpecState(s) : null;
  }

  /** The decision for the next request; `override` is the spec text it brought (throws FaultSpecError). */
  decide(override?: string): FaultDecision {
    const spec = override === undefined ? undefined : parseFaultSpec(override);
    const state = spec === undefined ? this.start : spec && this.stateOf(spec);
    this.requests++;
    const d = state ? state.next() : NO_FAULT;
    if (d.kind) this.applied[d.kind]++;
    return d;
  }

  private stateOf(spec: FaultSpec): SpecState {
    const key = formatFaultSpec(spec);
    let state = this.perRequest.get(key);
    if (!state) {
      if (this.perRequest.size >= MAX_REQUEST_SPECS) this.perRequest.delete(this.perRequest.keys().next().value!);
      this.perRequest.set(key, (state = new SpecState(spec)));
    }
    return state;
  }
}

// ---- Fastify hooks ---------------------------------------------------------

/** Requests whose answer is to be cut in half, and how. */
const truncating = new WeakMap<FastifyRequest, ResolvedFaultSpec['truncateMode']>();

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

/** Ends the connection without an answer: a TCP reset where the platform allows it. */
function resetConnection(request: FastifyRequest, reply: FastifyReply): false {
  reply.hijack();
  const socket = request.raw.socket as (typeof request.raw.socket & { resetAndDestroy?: () => void }) | null;
  if (socket?.resetAndDestroy) socket.resetAndDestroy();
  else socket?.destroy();
  return false;
}

/** Applies a delay and a fault; resolves true when the request goes on to its handler. */
async function apply(request: FastifyRequest, reply: FastifyReply, { kind, delayMs, spec }: FaultDecision): Promise<boolean> {
  if (!(await wait(delayMs, reply))) return resetConnection(request, reply);
  if (kind === null) return true;
  reply.header('x-mock-fault-applied', kind);
  const json = 'application/json; charset=utf-8';
  switch (kind) {
    case 'error':
      sendProblem(reply, spec.errorStatus, `Injected fault: HTTP ${spec.errorStatus}`);
      return false;
    case 'rateLimit': {
      // An HTTP date has whole seconds: round up so the wait is never shorter than asked.
      const value =
        spec.retryAfterFormat === 'date'
          ? new Date(Math.ceil(Date.now() / 1000) * 1000 + spec.retryAfter * 1000).toUTCString()
          : String(spec.retryAfter);
      sendProblem(reply.header('retry-after', value), 429, `Injected fault: rate limited, retry after ${value}`);
      return false;
    }
    case 'reset':
      return resetConnection(request, reply);
    case 'malformed':
      reply.code(200).type(json).send('<html><body><h1>502 Bad Gateway</h1> injected fault: this is not JSON</body></html>');
      return false;
    case 'wrongShape':
      reply.code(200).type(json).send('{"items":[],"message":"injected fault: no data array"}');
      return false;
    case 'slow':
      return (await wait(spec.slowMs, reply)) || resetConnection(request, reply);
    case 'truncate':
      truncating.set(request, spec.truncateMode);
      return true;
  }
}

/**
 * The onRequest and onSend hooks that apply an injector's faults to the
 * routes they are attached to. Both are callback-style: a request with no
 * fault and no delay (nearly all of them) goes through without a promise or
 * a microtask turn; only a fault or a delay takes the async path.
 */
export function faultHooks(injector: FaultInjector) {
  // A hook that answers does not call done (Fastify's callback-style contract).
  function onRequest(request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
    const header = request.headers['x-mock-fault'];
    // The route's schema has made `fault` a string, when given.
    const given = header ?? (request.query as { fault?: string } | undefined)?.fault;
    let decision: FaultDecision;
    try {
      decision = injector.decide(given === undefined ? undefined : Array.isArray(given) ? given.join(',') : given);
    } catch (err) {
      const [name, where] = header !== undefined ? ['x-mock-fault', 'header'] : ['fault', 'query'];
      const reason = (err as Error).message;
      sendProblem(reply, 400, `${name}: ${reason}`, { invalid_params: [{ name, in: where, reason }] });
      return;
    }
    if (decision.kind === null && decision.delayMs <= 0) return done();
    apply(request, reply, decision).then((goOn) => goOn && done(), done);
  }

  function onSend(
    request: FastifyRequest,
    reply: FastifyReply,
    payload: unknown,
    done: (err: Error | null, payload?: unknown) => void,
  ): void {
    const mode = truncating.get(request);
    if (mode === undefined) return done(null, payload);
    // The routes send their JSON as bytes; a string is any other answer's.
    const body = Buffer.isBuffer(payload) ? payload : typeof payload === 'string' ? Buffer.from(payload) : null;
    if (!body) return done(null, payload);
    const half = body.subarray(0, Math.floor(body.length / 2));
    if (mode === 'json') return done(null, half);
    // The headers promise the whole body; half of it comes, then the
    // connection closes, as when a proxy or the server dies mid-answer.
    reply.header('content-length', String(body.length));
    reply.raw.once('finish', () => request.raw.socket?.destroy());
    done(null, Readable.from([half], { objectMode: false }));
  }

  return { onRequest, onSend };
}
