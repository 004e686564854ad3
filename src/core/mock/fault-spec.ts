// The mock source's fault spec: which faults to inject, written as one string
// — MOCK_FAULTS at start, or per request the `x-mock-fault` header or the
// `fault` query parameter:
//
//   key=value pairs separated by ",", or "none" / "" for no faults
//   e.g.  errorRate=0.2,errorStatus=500,seed=7
//         failFirst=2,failWith=rateLimit,retryAfter=1
//
// FaultSpecSchema declares each key once (type, limits, default, meaning);
// the TypeScript type, the parser and the OpenAPI text are derived from it.
import { Type, type Static } from 'typebox';
import Value from 'typebox/value';

export const FAULT_KINDS = ['error', 'rateLimit', 'reset', 'truncate', 'malformed', 'wrongShape', 'slow'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];
/** The kinds drawn by rate (`<kind>Rate`), in the order a request's draw tries them. */
export const RATE_KINDS = ['error', 'reset', 'truncate', 'malformed', 'wrongShape', 'slow'] as const;

const N = 1_000_000_000;
const MS = 600_000;
const int = (minimum: number, maximum: number, description: string, options: { default?: number } = {}) =>
  Type.Optional(Type.Integer({ minimum, maximum, description, ...options }));
const rate = (description: string) => Type.Optional(Type.Number({ minimum: 0, maximum: 1, default: 0, description }));
const oneOf = <T extends string>(values: readonly T[], description: string) =>
  Type.Optional(Type.Enum([...values], { default: values[0], description }));

export const FaultSpecSchema = Type.Object(
  {
    latencyMs: int(0, MS, 'added before every answer, faulty or not', { default: 0 }),
    latencyJitterMs: int(0, MS, 'up to this much more latency, drawn from the PRNG', { default: 0 }),
    errorRate: rate('share of requests answered `errorStatus`'),
    errorStatus: int(400, 599, 'status of injected errors', { default: 503 }),
    rateLimitEvery: int(1, N, 'every Nth request answers 429 with a Retry-After'),
    retryAfter: int(0, 86_400, 'seconds a 429 asks the client to wait', { default: 1 }),
    retryAfterFormat: oneOf(['seconds', 'date'], 'how a 429 states its Retry-After: delta-seconds or an HTTP date'),
    resetRate: rate('share of requests whose connection is reset with no response'),
    resetEvery: int(1, N, "every Nth request's connection is reset with no response"),
    truncateRate: rate('share of requests whose body is cut in half'),
    truncateMode: oneOf(['cut', 'json'], '`cut`: half the body, then the connection closes; `json`: a complete 200 with half the JSON'),
    malformedRate: rate('share of requests answered 200 with a body that is not JSON'),
    wrongShapeRate: rate('share of requests answered 200 with JSON that has no `data` array'),
    slowRate: rate("share of requests answered normally after `slowMs` (longer than a client's timeout)"),
    slowMs: int(0, MS, 'delay of a `slow` fault', { default: 10_000 }),
    failFirst: int(0, N, 'the first N requests get the `failWith` fault, then the other settings apply', { default: 0 }),
    failAfter: int(0, N, 'every request after the first N gets the `failWith` fault (a source that dies mid-run)'),
    failWith: oneOf(FAULT_KINDS, 'the fault of `failFirst` / `failAfter`'),
    seed: int(0, 2 ** 32 - 1, 'seed of the PRNG', { default: 0 }),
  },
  { additionalProperties: false },
);
export type FaultSpec = Static<typeof FaultSpecSchema>;
/** A spec with its defaults filled in; the keys that have none are off when absent. */
export type ResolvedFaultSpec = FaultSpec & Required<Omit<FaultSpec, 'rateLimitEvery' | 'resetEvery' | 'failAfter'>>;

export class FaultSpecError extends Error {
  override name = 'FaultSpecError';
}

type Prop = { type?: string; enum?: string[]; minimum?: number; maximum?: number; default?: unknown; description: string };
const PROPS = FaultSpecSchema.properties as unknown as Record<string, Prop>;
const KEYS = Object.keys(PROPS);
const SYNTAX = 'a fault spec is key=value pairs separated by "," (e.g. errorRate=0.2,errorStatus=500,seed=7), or "none"';

/** What a key accepts, in words. */
function accepts(p: Prop): string {
  if (p.enum) return `one of ${p.enum.join(', ')}`;
  return `${p.type === 'integer' ? 'a whole number' : 'a number'} from ${p.minimum} to ${p.maximum}`;
}

function checkValue(key: string, value: unknown, given: unknown = value): void {
  if (!Object.hasOwn(PROPS, key)) throw new FaultSpecError(`unknown fault setting "${key}" (known: ${KEYS.join(', ')})`);
  if (!Value.Check(PROPS[key]!, value)) throw new FaultSpecError(`${key} must be ${accepts(PROPS[key]!)}, got ${JSON.stringify(given)}`);
}

function checkRates(spec: FaultSpec): FaultSpec {
  const sum = RATE_KINDS.reduce((s, k) => s + (spec[`${k}Rate`] ?? 0), 0);
  if (sum > 1 + 1e-9) throw new FaultSpecError(`the rates (${RATE_KINDS.map((k) => k + 'Rate').join(', ')}) add up to ${sum}, more than 1`);
  return spec;
}

/** Parses a spec's text; null means no faults. Throws FaultSpecError. */
export function parseFaultSpec(text: string): FaultSpec | null {
  const t = text.trim();
  if (t === '' || t === 'none') return null;
  const spec: Record<string, unknown> = {};
  for (const pair of t.split(',')) {
    const m = /^\s*([A-Za-z]+)=([\w.+-]+)\s*$/.exec(pair);
    if (!m) throw new FaultSpecError(`"${pair.trim()}" is not key=value: ${SYNTAX}`);
    const [, key, raw] = m as unknown as [string, string, string];
    if (Object.hasOwn(spec, key)) throw new FaultSpecError(`${key} is given twice`);
    // The text is coerced to the key's schema type, then validated against it.
    const numeric = PROPS[key]?.type === 'number' || PROPS[key]?.type === 'integer';
    const value = numeric ? Number(raw) : raw;
    checkValue(key, value, raw);
    spec[key] = value;
  }
  return checkRates(spec);
}

/** Validates a spec given as an object; returns it. Throws FaultSpecError. */
export function checkFaultSpec(spec: FaultSpec): FaultSpec {
  for (const [key, value] of Object.entries(spec)) if (value !== undefined) checkValue(key, value);
  return checkRates(spec);
}

/** The spec with the schema's defaults filled in. */
export function withDefaults(spec: FaultSpec): ResolvedFaultSpec {
  return Value.Default(FaultSpecSchema, { ...spec }) as ResolvedFaultSpec;
}

/** The compact text of a spec (its identity for per-spec state). */
export function formatFaultSpec(spec: FaultSpec | null): string {
  const parts = Object.entries(spec ?? {}).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`]));
  return parts.length ? parts.join(',') : 'none';
}

/** The OpenAPI description of the routes that take a fault spec. */
export const FAULT_SPEC_DOC = [
  '**Fault injection** (testing). A fault spec in the `x-mock-fault` header or the `fault` query parameter',
  "replaces the server's start spec (MOCK_FAULTS) for this request: `key=value` pairs separated by `,`",
  '(`none` for no faults), e.g. `failFirst=2,failWith=rateLimit,retryAfter=1`. `failFirst` / `failAfter` come',
  'first, then `rateLimitEvery` / `resetEvery`, then one draw among the rates (which add up to at most 1).',
  'Each spec keeps its own request counter and seeded PRNG, so the same requests see the same faults every run.',
  'Faulty answers carry `x-mock-fault-applied: <kind>`. Keys:',
  '',
  ...KEYS.map((k) => {
    const p = PROPS[k]!;
    return `- \`${k}\` (${accepts(p)}${p.default === undefined ? '' : `, default ${typeof p.default === 'string' ? p.default : JSON.stringify(p.default)}`}): ${p.description}`;
  }),
].join('\n');
