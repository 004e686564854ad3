// `npm run bench:load`: the load run of the operations checklist. Starts the
// real services as production does (`src/main.ts all`: production logger,
// one log line per request, to a file), ingests a synthetic source, then
// drives a mix of reads with autocannon (60 s, 32 connections by default)
// and checks that it ends with 0 errors, 0 timeouts and 0 non-2xx answers.
// Writes the figures between the load-run markers of BENCHMARKS.md and
// leaves the rest of the file alone.
//
//   npm run bench:load -- [--duration 60] [--connections 32] [--records 100000] [--no-write]
//
// Database: DATABASE_URL, else postgres://postgres@127.0.0.1:5432/postgres
// when it answers (a fresh database is created there and dropped after),
// else the embedded PostgreSQL 15 in a temporary directory.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import autocannon, { type Request, type Result } from 'autocannon';
import pg from 'pg';
import { PACKAGE_ROOT } from '../src/core/config.js';
import { connectionError } from '../src/core/db/database.js';

const START = '<!-- load-run:start -->';
const END = '<!-- load-run:end -->';
const OUTPUT = path.join(PACKAGE_ROOT, 'BENCHMARKS.md');

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '60' },
    connections: { type: 'string', default: '32' },
    records: { type: 'string', default: '100000' },
    'no-write': { type: 'boolean', default: false },
  },
});
const DURATION = Number(args.duration);
const CONNECTIONS = Number(args.connections);
const RECORDS = Number(args.records);

const log = (line: string) => process.stderr.write(`[load] ${line}\n`);

// --- database ---------------------------------------------------------------

interface Db {
  env: NodeJS.ProcessEnv;
  describe: string;
  drop(): Promise<void>;
}

async function database(): Promise<Db> {
  const server = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  if (process.env.DATABASE_URL || (await connectionError(server)) === null) {
    const name = `cp_load_${randomBytes(4).toString('hex')}`;
    const admin = async (sql: string) => {
      const c = new pg.Client({ connectionString: server });
      await c.connect();
      try {
        await c.query(sql);
      } finally {
        await c.end();
      }
    };
    await admin(`CREATE DATABASE ${name}`);
    const url = new URL(server);
    url.pathname = `/${name}`;
    const version = await (async () => {
      const c = new pg.Client({ connectionString: url.toString() });
      await c.connect();
      try {
        return (await c.query<{ server_version: string }>('SHOW server_version')).rows[0]!.server_version;
      } finally {
        await c.end();
      }
    })();
    return {
      env: { DATABASE_URL: url.toString() },
      describe: `PostgreSQL ${version} server at ${url.host} (a fresh database)`,
      drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
    };
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'cp-load-pg-'));
  return {
    env: { DATABASE_URL: '', EMBEDDED_PG_DIR: path.join(dir, 'data'), EMBEDDED_PG_PORT: String(55_000 + Math.floor(Math.random() * 1000)) },
    describe: 'the embedded PostgreSQL 15 (a fresh data directory)',
    drop: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

// --- the services -------------------------------------------------------------

interface Services {
  proc: ChildProcess;
  mock: string;
  pipeline: string;
  logFile: string;
}

async function startServices(env: NodeJS.ProcessEnv, logFile: string): Promise<Services> {
  // Logs straight into a file: a pipe the parent drains would cost the CPU the load needs.
  const fd = openSync(logFile, 'w');
  const proc = spawn(process.execPath, ['--import', 'tsx', path.join(PACKAGE_ROOT, 'src', 'main.ts'), 'all'], {
    cwd: PACKAGE_ROOT,
    env: {
      ...process.env,
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      MOCK_PORT: '0',
      PIPELINE_PORT: '0',
      MOCK_SERVER_URL: '',
      MOCK_GENERATE: String(RECORDS),
      MOCK_FAULTS: '',
      LOG_LEVEL: 'info',
      LOG_REQUESTS: 'true',
      INGEST_API_KEY: '',
      RATE_LIMIT_PER_MINUTE: '0',
      ...env,
    },
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  const deadline = Date.now() + 120_000;
  for (;;) {
    const out = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
    const mock = /^mock server \(source API\)\s+(\S+)/m.exec(out)?.[1];
    const pipeline = /^pipeline API\s+(\S+)/m.exec(out)?.[1];
    if (mock && pipeline && out.includes('Ctrl-C stops everything.')) return { proc, mock, pipeline, logFile };
    if (proc.exitCode !== null) throw new Error(`the services exited (${proc.exitCode}); log: ${logFile}\n${out.slice(-2000)}`);
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`the services did not start in 120 s; log: ${logFile}`);
    }
    await sleep(200);
  }
}

async function stopServices(s: Services): Promise<void> {
  if (s.proc.exitCode !== null) return;
  const exited = new Promise((resolve) => s.proc.once('exit', resolve));
  s.proc.kill('SIGTERM');
  await Promise.race([exited, sleep(20_000).then(() => s.proc.kill('SIGKILL'))]);
}

// --- the mix ------------------------------------------------------------------

const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!;
const randomInt = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo + 1));

interface Kind {
  name: string;
  path: () => string;
}

/** A request whose path is drawn afresh every time it is sent. */
const request = (kind: Kind): Request => ({ method: 'GET', path: kind.path(), setupRequest: (req) => ({ ...req, path: kind.path() }) });

async function mix(pipeline: string, total: number): Promise<Kind[]> {
  // Ids that exist: a few pages of them, spread over the table.
  const ids: string[] = [];
  // What a person types into a search box: the first letters of a stored name.
  const prefixes = new Set<string>();
  const pages = Math.max(1, Math.ceil(total / 1000));
  for (let i = 0; i < 8; i++) {
    const page = 1 + Math.floor((i * pages) / 8);
    const body = (await (await fetch(`${pipeline}/api/customers?page=${page}&limit=1000`)).json()) as {
      data: { customer_id: string; first_name: string; last_name: string }[];
    };
    ids.push(...body.data.map((c) => c.customer_id));
    for (const c of body.data.slice(0, 50)) prefixes.add(c.last_name.slice(0, 3).toLowerCase()).add(c.first_name.slice(0, 2).toLowerCase());
  }
  if (!ids.length) throw new Error('no customers stored: the ingest loaded nothing');
  const lastPage10 = Math.max(1, Math.floor(total / 10));
  const kinds: Kind[] = [
    { name: 'GET /api/customers/:customer_id (a random stored id)', path: () => `/api/customers/${encodeURIComponent(pick(ids))}` },
    {
      name: 'GET /api/customers?page=<random>&limit=10 (any depth)',
      path: () => `/api/customers?page=${randomInt(1, lastPage10)}&limit=10`,
    },
    { name: 'GET /api/customers?page=<1..10>&limit=100', path: () => `/api/customers?page=${randomInt(1, 10)}&limit=100` },
    { name: 'GET /api/customers (the seed default: page 1, limit 10)', path: () => '/api/customers' },
    { name: 'GET /api/ingest/runs?limit=5', path: () => '/api/ingest/runs?limit=5' },
  ];
  // The query parameters of the read API, when this build has them.
  const doc = (await (await fetch(`${pipeline}/openapi.json`)).json()) as {
    paths: Record<string, { get?: { parameters?: { name: string }[] } }>;
  };
  const params = new Set((doc.paths['/api/customers']?.get?.parameters ?? []).map((p) => p.name));
  if (params.has('q')) {
    const typed = [...prefixes];
    kinds.push({
      name: 'GET /api/customers?q=<2-3 letters of a stored name>&limit=10 (prefix search)',
      path: () => `/api/customers?q=${encodeURIComponent(pick(typed))}&limit=10`,
    });
  }
  return kinds;
}

// --- metrics ---------------------------------------------------------------------

async function scrape(pipeline: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${pipeline}/metrics`)).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

/** Server-side requests and mean time per route and status between two scrapes. */
function serverSide(before: Map<string, number>, after: Map<string, number>) {
  const rows: { route: string; status: string; count: number; meanMs: number }[] = [];
  for (const [key, value] of after) {
    const m = /^http_request_duration_seconds_count\{method="GET",route="([^"]+)",status_code="(\d+)"\}$/.exec(key);
    if (!m || m[1] === '/metrics') continue;
    const count = value - (before.get(key) ?? 0);
    if (count <= 0) continue;
    const sumKey = key.replace('_count{', '_sum{');
    const sum = (after.get(sumKey) ?? 0) - (before.get(sumKey) ?? 0);
    rows.push({ route: m[1]!, status: m[2]!, count, meanMs: (sum / count) * 1000 });
  }
  return rows.sort((a, b) => b.count - a.count);
}

// --- report -------------------------------------------------------------------

const fmt = (n: number) => Math.round(n).toLocaleString('en-US').replace(/,/g, ' ');

function section(r: {
  result: Result & { statusCodeStats?: Record<string, { count: number }> };
  kinds: Kind[];
  server: ReturnType<typeof serverSide>;
  ingest: { records: number; ms: number };
  db: string;
  ok: boolean;
  load: { before: number };
}): string {
  const { result } = r;
  const statuses = Object.entries(result.statusCodeStats ?? {})
    .map(([code, s]) => `${code}: ${fmt(s.count)}`)
    .join(', ');
  const cpu = cpus();
  return `${START}
## Load run

\`npm run bench:load\` on ${new Date().toISOString().slice(0, 10)}: **${r.ok ? 'passed' : 'FAILED'}** — ${fmt(result.errors)} errors, ${fmt(result.timeouts)} timeouts, ${fmt(result.non2xx)} non-2xx answers.

- Services: \`src/main.ts all\` (mock and pipeline in one process, as \`npm start\`), \`NODE_ENV=production\`, the production logger at \`info\` with one line per request (\`LOG_REQUESTS=true\`) into a file; rate limit off, no API key.
- Data: ${fmt(r.ingest.records)} generated customers (\`MOCK_GENERATE\`), ingested by \`POST /api/ingest\` in ${fmt(r.ingest.ms)} ms before the run, into ${r.db}.
- Load: autocannon, ${DURATION} s, ${CONNECTIONS} connections, no pipelining, on the same machine (${cpu.length} × ${cpu[0]?.model ?? 'CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}). Each connection cycles through the mix below, each request with a fresh random page or id. The machine's 1-minute load average before the services started: ${r.load.before.toFixed(1)}${r.load.before > cpu.length / 2 ? ' (other work was running and shared the CPUs with this run: the figures understate the code)' : ''}.

| | |
| --- | --- |
| requests | ${fmt(result.requests.total)} (${fmt(result.requests.average)}/s on average) |
| latency p50 / p90 / p99 / max | ${result.latency.p50} / ${result.latency.p90} / ${result.latency.p99} / ${result.latency.max} ms |
| answers by status | ${statuses || '—'} |
| errors / timeouts / non-2xx | ${fmt(result.errors)} / ${fmt(result.timeouts)} / ${fmt(result.non2xx)} |

Each connection cycles through these reads, in this order:

${r.kinds.map((k, i) => `${i + 1}. \`${k.name}\``).join('\n')}

What the pipeline's own \`http_request_duration_seconds\` counted during the run (time in the server, request to response):

| route | status | answers | mean time in the server |
| --- | --- | --- | --- |
${r.server.map((s) => `| \`${s.route}\` | ${s.status} | ${fmt(s.count)} | ${s.meanMs.toFixed(2)} ms |`).join('\n')}
${END}`;
}

function writeSection(text: string): void {
  const current = existsSync(OUTPUT) ? readFileSync(OUTPUT, 'utf8') : '';
  const start = current.indexOf(START);
  const end = current.indexOf(END);
  const next =
    start !== -1 && end > start
      ? current.slice(0, start) + text + current.slice(end + END.length)
      : `${current}${current && !current.endsWith('\n') ? '\n' : ''}${current ? '\n' : ''}${text}\n`;
  writeFileSync(OUTPUT, next);
}

// --- run ----------------------------------------------------------------------------

const loadBefore = loadavg()[0]!;
const db = await database();
const logFile = path.join(mkdtempSync(path.join(tmpdir(), 'cp-load-')), 'services.log');
log(`database: ${db.describe}; service log: ${logFile}`);
let services: Services | null = null;
let exitCode = 1;
try {
  services = await startServices(db.env, logFile);
  log(`mock ${services.mock}, pipeline ${services.pipeline}; ingesting ${fmt(RECORDS)} records`);
  const t0 = performance.now();
  const ingest = await fetch(`${services.pipeline}/api/ingest`, { method: 'POST' });
  const ingestBody = (await ingest.json()) as { records_processed?: number };
  if (!ingest.ok) throw new Error(`the ingest answered ${ingest.status}: ${JSON.stringify(ingestBody)}`);
  const ingestMs = performance.now() - t0;
  const kinds = await mix(services.pipeline, RECORDS);
  // A short warm-up (JIT, pool connections), not counted.
  await autocannon({ url: services.pipeline, connections: CONNECTIONS, duration: 5, requests: kinds.map(request) });
  const before = await scrape(services.pipeline);
  log(`running ${DURATION} s with ${CONNECTIONS} connections over ${kinds.length} kinds of read`);
  const result = (await autocannon({
    url: services.pipeline,
    connections: CONNECTIONS,
    duration: DURATION,
    requests: kinds.map(request),
  })) as Result & { statusCodeStats?: Record<string, { count: number }> };
  const after = await scrape(services.pipeline);
  const ok = result.errors === 0 && result.timeouts === 0 && result.non2xx === 0 && result.requests.total > 0;
  const text = section({
    result,
    kinds,
    server: serverSide(before, after),
    ingest: { records: ingestBody.records_processed ?? 0, ms: ingestMs },
    db: db.describe,
    ok,
    load: { before: loadBefore },
  });
  process.stdout.write(`${text}\n`);
  if (!args['no-write']) {
    writeSection(text);
    log(`wrote the load-run section of ${path.relative(process.cwd(), OUTPUT)}`);
  }
  exitCode = ok ? 0 : 1;
} catch (err) {
  log(`failed: ${(err as Error).stack ?? String(err)}`);
} finally {
  if (services) await stopServices(services);
  await db.drop().catch((e: Error) => log(`could not drop the database: ${e.message}`));
}
process.exit(exitCode);
