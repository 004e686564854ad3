// Environment → typed, validated settings. The only module that reads
// process.env; everything else receives a Config, or the groups of it
// (ingest, source, …) it needs.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FaultSpecError, parseFaultSpec, type FaultSpec } from './mock/fault-spec.js';

// This file is src/core/config.ts (dist/core/config.js once built): the package is two levels up.
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Parser<T> = (raw: string, name: string) => T;

interface Setting<T> {
  /** The group of Config it is read into, and its key there: `ingest` and `pageSize` for INGEST_PAGE_SIZE. */
  group: string;
  key: string;
  description: string;
  default: T;
  parse: Parser<T>;
}

const int =
  (min: number, max: number): Parser<number> =>
  (raw, name) => {
    if (!/^\d+$/.test(raw.trim())) throw new ConfigError(`${name} must be a whole number, got "${raw}"`);
    const n = Number(raw);
    if (n < min || n > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${n}`);
    return n;
  };

const port: Parser<number> = int(0, 65535);

/** A PostgreSQL memory setting, as SET takes it: "64MB", "512kB", "1GB" (64 kB to 2 GB). */
const pgMemory: Parser<string> = (raw, name) => {
  const m = /^(\d+)\s*(kB|MB|GB)$/.exec(raw.trim());
  const kB = m ? Number(m[1]) * { kB: 1, MB: 1024, GB: 1024 * 1024 }[m[2] as 'kB' | 'MB' | 'GB'] : NaN;
  if (!(kB >= 64 && kB <= 2 * 1024 * 1024)) {
    throw new ConfigError(`${name} must be a PostgreSQL memory size from 64kB to 2GB, such as 64MB, got "${raw}"`);
  }
  return `${m![1]}${m![2]}`;
};

const url =
  (protocols: string[]): Parser<string> =>
  (raw, name) => {
    let u: URL;
    try {
      u = new URL(raw);
    } catch {
      throw new ConfigError(`${name} must be a URL, got "${raw}"`);
    }
    if (!protocols.includes(u.protocol)) {
      throw new ConfigError(`${name} must start with ${protocols.map((p) => `${p}//`).join(' or ')}, got "${raw}"`);
    }
    return raw.replace(/\/+$/, '');
  };

const oneOf =
  <T extends string>(values: readonly T[]): Parser<T> =>
  (raw, name) => {
    if (!(values as readonly string[]).includes(raw)) {
      throw new ConfigError(`${name} must be one of ${values.join(', ')}, got "${raw}"`);
    }
    return raw as T;
  };

const text: Parser<string> = (raw) => raw;
const optionalUrl =
  (protocols: string[]): Parser<string | null> =>
  (raw, name) =>
    raw === '' ? null : url(protocols)(raw, name);

const faultSpec: Parser<FaultSpec | null> = (raw, name) => {
  try {
    return parseFaultSpec(raw);
  } catch (err) {
    if (err instanceof FaultSpecError) throw new ConfigError(`${name}: ${err.message}`);
    throw err;
  }
};

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const bool: Parser<boolean> = (raw, name) => {
  const v = raw.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off'].includes(v)) return false;
  throw new ConfigError(`${name} must be true or false, got "${raw}"`);
};

// A bearer key short enough to guess is worse than none: it looks like protection.
const apiKey: Parser<string | null> = (raw, name) => {
  if (raw.length < 16) throw new ConfigError(`${name} must be at least 16 characters long`);
  if (!/^[\x21-\x7e]+$/.test(raw)) throw new ConfigError(`${name} must be printable ASCII without spaces`);
  return raw;
};

// Browser origins allowed to call the API: "*" or scheme://host[:port], comma-separated.
const origins: Parser<string[]> = (raw, name) => {
  const list = raw
    .split(',')
    .map((o) => o.trim())
    .filter(Boolean);
  for (const o of list) {
    if (o === '*') continue;
    let u: URL | null = null;
    try {
      u = new URL(o);
    } catch {
      /* reported below */
    }
    if (!u || !['http:', 'https:'].includes(u.protocol) || u.origin !== o.replace(/\/$/, '')) {
      throw new ConfigError(`${name} must list origins like https://app.example.com (or *), got "${o}"`);
    }
  }
  return list.map((o) => o.replace(/\/$/, ''));
};

/** Every setting, its default and what it is for. `.env.example` mirrors this. */
export const SETTINGS = {
  HOST: {
    group: 'http',
    key: 'host',
    description: 'Interface both services listen on: 127.0.0.1 keeps them on this machine; 0.0.0.0 (the containers) serves every interface',
    default: '127.0.0.1',
    parse: text,
  },
  MOCK_PORT: { group: 'http', key: 'mockPort', description: 'Port of the mock source API', default: 5000, parse: port },
  PIPELINE_PORT: { group: 'http', key: 'pipelinePort', description: 'Port of the pipeline API', default: 8000, parse: port },
  DATABASE_URL: {
    group: 'database',
    key: 'url',
    description: 'PostgreSQL server to use; empty starts the embedded PostgreSQL 15',
    default: null,
    parse: optionalUrl(['postgres:', 'postgresql:']),
  },
  DATABASE_READ_URL: {
    group: 'database',
    key: 'readUrl',
    description:
      'A streaming replica of DATABASE_URL for the read API (customers, run records); empty = reads on DATABASE_URL. Reads fall back to the primary while it is down',
    default: null,
    parse: optionalUrl(['postgres:', 'postgresql:']),
  },
  EMBEDDED_PG_PORT: {
    group: 'database',
    key: 'embeddedPort',
    description: 'Port of the embedded PostgreSQL',
    default: 54329,
    parse: int(1, 65535),
  },
  EMBEDDED_PG_DIR: {
    group: 'database',
    key: 'embeddedDir',
    description: 'Data directory of the embedded PostgreSQL',
    default: path.join(PACKAGE_ROOT, '.data', 'postgres'),
    parse: (raw: string) => path.resolve(raw),
  },
  MOCK_SERVER_URL: {
    group: 'source',
    key: 'url',
    description: 'Base URL of the source API the pipeline ingests from (default: the local mock)',
    default: null,
    parse: optionalUrl(['http:', 'https:']),
  },
  MOCK_DATA_FILE: {
    group: 'mock',
    key: 'dataFile',
    description: 'JSON file of customer records the mock serves',
    default: path.join(PACKAGE_ROOT, 'data', 'customers.json'),
    parse: (raw: string) => path.resolve(raw),
  },
  MOCK_DATA_STRICT: {
    group: 'mock',
    key: 'dataStrict',
    description:
      'Refuse to start on a data file with a record that breaks the schema (false: serve it as it is, for the pipeline to reject)',
    default: true,
    parse: bool,
  },
  MOCK_GENERATE: {
    group: 'mock',
    key: 'generate',
    description: 'Serve N generated records instead of the data file (0 = use the file)',
    default: 0,
    parse: int(0, 50_000_000),
  },
  MOCK_SEED: { group: 'mock', key: 'seed', description: 'Seed of the generated dataset', default: 42, parse: int(0, 2 ** 31 - 1) },
  MOCK_MAX_LIMIT: {
    group: 'mock',
    key: 'maxLimit',
    description: 'Largest page size the mock accepts',
    default: 1000,
    parse: int(1, 100_000),
  },
  MOCK_FAULTS: {
    group: 'mock',
    key: 'faults',
    description:
      'Faults the mock injects into /api/customers: key=value pairs separated by ",", e.g. "errorRate=0.1,rateLimitEvery=20,seed=7" (keys in src/core/mock/fault-spec.ts); empty = none',
    default: null,
    parse: faultSpec,
  },
  INGEST_PAGE_SIZE: {
    group: 'ingest',
    key: 'pageSize',
    description: 'Records asked for per source page',
    default: 1000,
    parse: int(1, 100_000),
  },
  INGEST_CONCURRENCY: { group: 'ingest', key: 'concurrency', description: 'Source pages fetched at once', default: 4, parse: int(1, 64) },
  INGEST_WORK_MEM: {
    group: 'ingest',
    key: 'workMem',
    description:
      "PostgreSQL work_mem of the ingest's transaction (SET LOCAL: that transaction only), so its sorts and hashes stay in memory",
    default: '64MB',
    parse: pgMemory,
  },
  INGEST_CHUNK_ROWS: {
    group: 'ingest',
    key: 'chunkRows',
    description: 'Rows staged before they are compared with the stored customers, while later pages are still being fetched',
    default: 25_000,
    parse: int(1, 10_000_000),
  },
  INGEST_MAX_PAGES: {
    group: 'ingest',
    key: 'maxPages',
    description:
      'Most source pages one ingest reads (the short or empty last one included); a source still sending full pages past it fails the run',
    default: 1_000_000,
    parse: int(1, 1_000_000_000),
  },
  INGEST_MAX_RECORDS: {
    group: 'ingest',
    key: 'maxRecords',
    description: 'Most source records one ingest reads, valid or not; past it the run fails',
    default: 50_000_000,
    parse: int(1, 10_000_000_000),
  },
  INGEST_MAX_DURATION_MS: {
    group: 'ingest',
    key: 'maxDurationMs',
    description: 'Longest one ingest may spend reading the source (6 h); past it the run fails',
    default: 6 * 3600_000,
    parse: int(1000, 7 * 24 * 3600_000),
  },
  SOURCE_TIMEOUT_MS: {
    group: 'source',
    key: 'timeoutMs',
    description: 'Deadline of one source request, connecting to the last byte of the body (a timed-out request is retried)',
    default: 30_000,
    parse: int(1, 600_000),
  },
  SOURCE_MAX_PAGE_BYTES: {
    group: 'source',
    key: 'maxPageBytes',
    description:
      'Largest source page body read, in bytes; a longer one (or a Content-Length past it) fails the run unread. The default is over twice a 100,000-record page of the mock',
    default: 64 * 1024 * 1024,
    parse: int(1024, 1024 * 1024 * 1024),
  },
  SOURCE_MAX_RETRIES: {
    group: 'source',
    key: 'maxRetries',
    description: 'Retries of one source page before the run fails',
    default: 5,
    parse: int(0, 100),
  },
  SOURCE_RETRY_BASE_MS: {
    group: 'source',
    key: 'retryBaseMs',
    description: 'First retry delay (doubles each retry, with jitter)',
    default: 200,
    parse: int(0, 60_000),
  },
  SOURCE_RETRY_MAX_MS: {
    group: 'source',
    key: 'retryMaxMs',
    description: 'Longest single retry delay',
    default: 10_000,
    parse: int(0, 600_000),
  },
  INGEST_DELETE_MISSING: {
    group: 'ingest',
    key: 'deleteMissing',
    description:
      'After a complete run, delete the stored customers whose id the source did not return (a rejected record is not an absence); per request: ?delete_missing=true|false',
    default: false,
    parse: bool,
  },
  INGEST_DELETE_MAX_PERCENT: {
    group: 'ingest',
    key: 'deleteMaxPercent',
    description:
      'Mass-delete guard: a run that would delete more than this percentage of the stored customers is refused (409) unless the request says ?allow_mass_delete=true',
    default: 10,
    parse: int(0, 100),
  },
  CHANGES_RETENTION_DAYS: {
    group: 'ingest',
    key: 'changesRetentionDays',
    description: "Days a run's change set is kept (readable, revertable); older ones are pruned at the next ingest, their runs stay listed",
    default: 90,
    parse: int(1, 36_500),
  },
  SOURCE_RETRY_BUDGET_MS: {
    group: 'source',
    key: 'retryBudgetMs',
    description: 'Total time one ingest may wait between source retries, Retry-After included',
    default: 120_000,
    parse: int(0, 3_600_000),
  },
  DB_POOL_MAX: {
    group: 'database',
    key: 'poolMax',
    description: 'Connections in the pipeline database pool',
    default: 10,
    parse: int(1, 1000),
  },
  DB_STATEMENT_TIMEOUT_MS: {
    group: 'database',
    key: 'statementTimeoutMs',
    description:
      'Longest one read query may run before it is cancelled and answered 503 (an ingest and the migrations are not bound by it); 0 = no limit',
    default: 5000,
    parse: int(0, 3_600_000),
  },
  DB_LOCK_TIMEOUT_MS: {
    group: 'database',
    key: 'lockTimeoutMs',
    description: 'Longest a query may wait for a lock held by another session before it is answered 503; 0 = no limit',
    default: 2000,
    parse: int(0, 3_600_000),
  },
  DB_TRANSACTION_POOLER: {
    group: 'database',
    key: 'transactionPooler',
    description:
      "DATABASE_URL (and DATABASE_READ_URL) go through a pooler in transaction mode, such as PgBouncer: the read timeouts are set in each statement's own transaction (two more round trips per read) instead of once per connection",
    default: false,
    parse: bool,
  },
  LOG_LEVEL: { group: 'log', key: 'level', description: 'Log level (fatal … trace, silent)', default: 'info', parse: oneOf(LOG_LEVELS) },
  LOG_REQUESTS: {
    group: 'log',
    key: 'requests',
    description: 'One info log line per request (method, route pattern, status, duration, request id)',
    default: true,
    parse: bool,
  },
  INGEST_API_KEY: {
    group: 'security',
    key: 'apiKey',
    description: 'When set, POST /api/ingest and the run routes need "Authorization: Bearer <key>" (at least 16 characters); empty = open',
    default: null,
    parse: apiKey,
  },
  RATE_LIMIT_PER_MINUTE: {
    group: 'security',
    key: 'rateLimitPerMinute',
    description: 'Reads (GET /api/... but health and ready) allowed per client IP per minute on the pipeline; 0 = no limit',
    default: 0,
    parse: int(0, 10_000_000),
  },
  CORS_ORIGINS: {
    group: 'security',
    key: 'corsOrigins',
    description: 'Browser origins allowed to call the pipeline API, comma-separated (or *); empty = CORS off',
    default: [] as string[],
    parse: origins,
  },
} as const satisfies Record<string, Setting<unknown>>; // as const: each group and key stays a literal, for Config

type Settings = typeof SETTINGS;
type Name = keyof Settings;
type Value<N extends Name> = Settings[N]['default'] | ReturnType<Settings[N]['parse']>;

/** The groups of settings: `http`, `database`, `source`, … as the table names them. */
export type Group = Settings[Name]['group'];

/** One group's settings, by their camelCase keys, as the table says. */
export type GroupSettings<G extends Group> = {
  -readonly [N in Name as Settings[N]['group'] extends G ? Settings[N]['key'] : never]: Value<N>;
};

/** Every setting, parsed, by group and key: `config.ingest.pageSize` is INGEST_PAGE_SIZE. */
export type Config = { [G in Group]: GroupSettings<G> };

export type HttpSettings = Config['http'];
export type DatabaseSettings = Config['database'];
/** `url` is MOCK_SERVER_URL: null means the local mock (see `sourceUrl`). */
export type SourceSettings = Config['source'];
export type IngestSettings = Config['ingest'];
export type SecuritySettings = Config['security'];
export type MockSettings = Config['mock'];
export type LogSettings = Config['log'];

/**
 * Reads `.env` from the working directory into the environment when it is
 * there (`.env.example` shows its form); a variable already set in the
 * environment wins. Returns the file read, or null.
 */
export function readDotEnv(dir = process.cwd()): string | null {
  const file = path.join(dir, '.env');
  if (!existsSync(file)) return null;
  try {
    process.loadEnvFile(file);
  } catch (err) {
    throw new ConfigError(`cannot read ${file}: ${(err as Error).message}`);
  }
  return file;
}

/** Parses and validates every setting; throws a ConfigError naming the first bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [name, setting] of Object.entries(SETTINGS) as [string, Setting<unknown>][]) {
    const raw = env[name];
    (out[setting.group] ??= {})[setting.key] = raw === undefined || raw === '' ? setting.default : setting.parse(raw, name);
  }
  return out as Config;
}

/**
 * The source API the pipeline ingests from: MOCK_SERVER_URL when set, else
 * the local mock — `localMock`, its URL once it listens in this process
 * (with MOCK_PORT=0 its port is known only then), or MOCK_PORT on this machine.
 */
export function sourceUrl(config: { source: SourceSettings; http: HttpSettings }, localMock?: string): string {
  return config.source.url ?? localMock ?? `http://127.0.0.1:${config.http.mockPort}`;
}
