// `npm run bench`: starts the real mock server and the pipeline (each in its
// own process) on a fresh PostgreSQL database, measures ingest against the
// COPY+merge floor, the read API against a constant route of the same app,
// and the mock; prints one table and rewrites BENCHMARKS.md.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { generatedId } from '../src/core/mock/dataset.js';
import { Child, compileChildren, killChildren } from './children.js';
import {
  checkpoint,
  createBenchDatabase,
  emptyCustomers,
  findServer,
  markWrites,
  sampleActivity,
  type BenchDatabase,
  type Server,
  type WriteCounts,
} from './database.js';
import { BARE_TABLE, createBareTable, prepareCopyText, runPlainFloor, type CopyPage } from './floor.js';
import { measure, randomPath } from './load.js';
import { cpuAccount, formatCpu, waitForQuiet } from './cpu.js';
import { renderTable, writeMarkdown, type IngestResults, type ReadResults, type Results, type RssResults } from './report.js';
import { changedCount } from './variants.js';
import { loadConfig } from '../src/core/config.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const OUTPUT = path.join(ROOT, 'BENCHMARKS.md');

/** The ingest settings the pipeline child runs with: the defaults (its environment is a clean slate). */
function pipelineSettings(): string {
  const c = loadConfig({});
  return `INGEST_PAGE_SIZE=${c.ingest.pageSize}, INGEST_CONCURRENCY=${c.ingest.concurrency}, INGEST_WORK_MEM=${c.ingest.workMem}, INGEST_CHUNK_ROWS=${c.ingest.chunkRows} (the floors too), DB_POOL_MAX=${c.database.poolMax}`;
}

const { values: args } = parseArgs({
  options: {
    records: { type: 'string', default: '200000' },
    repeat: { type: 'string', default: '3' },
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '32' },
    warmup: { type: 'string', default: '2' },
    rss: { type: 'boolean', default: false },
    'rss-only': { type: 'boolean', default: false },
    parts: { type: 'string', default: 'ingest,read,rss' },
    'rss-sizes': { type: 'string', default: '100000,1000000' },
    'rss-repeat': { type: 'string', default: '1' },
    profile: { type: 'boolean', default: false },
    tsx: { type: 'boolean', default: false },
    phases: { type: 'boolean', default: false },
    'heap-trace': { type: 'boolean', default: false },
    source: { type: 'string', default: 'generated' },
    'no-write': { type: 'boolean', default: false },
    'timeout-min': { type: 'string' },
  },
  strict: true,
});

function positive(name: string, raw: string): number {
  const n = Number(raw.replace(/_/g, ''));
  if (!Number.isInteger(n) || n < 1) {
    process.stderr.write(`bench: --${name} must be a positive whole number, got "${raw}"\n`);
    process.exit(2);
  }
  return n;
}
const RECORDS = positive('records', args.records);
const REPEAT = positive('repeat', args.repeat);
const DURATION = positive('duration', args.duration);
const CONNECTIONS = positive('connections', args.connections);
const WARMUP = Number(args.warmup);
const RSS_SIZES = args['rss-sizes'].split(',').map((s) => positive('rss-sizes', s));
const RSS_REPEAT = positive('rss-repeat', args['rss-repeat']);
if (!['generated', 'memory'].includes(args.source)) {
  process.stderr.write(`bench: --source is generated or memory, got "${args.source}"\n`);
  process.exit(2);
}
// --rss is the default now; kept so that older command lines still run.
const PARTS = new Set(args['rss-only'] ? ['rss'] : [...args.parts.split(','), ...(args.rss ? ['rss'] : [])]);
for (const p of PARTS)
  if (!['ingest', 'read', 'rss'].includes(p)) {
    process.stderr.write(`bench: --parts takes ingest, read and rss, got "${p}"\n`);
    process.exit(2);
  }
const COMMAND = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;

const t0 = performance.now();
function log(line: string): void {
  process.stderr.write(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);
}

// ---- lifecycle ------------------------------------------------------------

const cleanups: (() => Promise<void>)[] = [];
let cleaning: Promise<void> | null = null;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const c of cleanups.reverse()) await c().catch((e: Error) => log(`cleanup: ${e.message}`));
    killChildren();
  })();
  return cleaning;
}
let stopping = false;
async function fail(message: string, code: number): Promise<never> {
  // Once stopping, what the measurements still in flight throw is a consequence, not news.
  if (stopping) return new Promise<never>(() => {});
  stopping = true;
  process.stderr.write(`\nbench: ${message}\n`);
  const guard = setTimeout(() => process.exit(code), 20_000);
  guard.unref();
  await cleanup();
  process.exit(code);
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => void fail(`stopped by ${sig}`, 130));
// Default budget: 30 min per 200,000 records (and the RSS runs), generous for 2 busy cores.
const TIMEOUT_MIN = args['timeout-min'] ? Number(args['timeout-min']) : 30 * Math.max(1, RECORDS / 200_000) + (PARTS.has('rss') ? 30 : 0);
const budget = setTimeout(() => void fail(`over the time budget of ${TIMEOUT_MIN} min (--timeout-min)`, 3), TIMEOUT_MIN * 60_000);
budget.unref();

// ---- helpers --------------------------------------------------------------

const MB = 1024 * 1024;
const workDir = mkdtempSync(path.join(os.tmpdir(), 'cp-bench-'));
cleanups.push(async () => rmSync(workDir, { recursive: true, force: true }));
const profileDir = path.join(ROOT, 'bench', '.profiles');

function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  // The production settings, from a clean slate: only what the bench decides.
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'production', ...extra };
  return env;
}

/** With --profile, CPU-profiles both servers over `fn` into bench/.profiles/<label>-<server>.cpuprofile. */
async function profiled<T>(label: string, children: Child[], fn: () => Promise<T>): Promise<T> {
  if (!args.profile) return fn();
  mkdirSync(profileDir, { recursive: true });
  for (const c of children) await c.request({ type: 'profile-start' });
  try {
    return await fn();
  } finally {
    const slug = label.replace(/[^\w.-]+/g, '_');
    for (const c of children)
      await c.request({ type: 'profile-stop', file: path.join(profileDir, `${slug}-${c.name}.cpuprofile`) }, 60_000);
  }
}

async function startMock(records: number): Promise<Child> {
  const mock = await Child.start('mock', 'serve-mock.ts', {
    env: childEnv({ BENCH_RECORDS: String(records) }),
    logFile: path.join(workDir, 'mock.log'),
    tsx: args.tsx,
  });
  cleanups.push(() => mock.stop());
  return mock;
}

async function startPipeline(db: BenchDatabase, mock: Child, nodeArgs: string[] = []): Promise<Child> {
  const pipeline = await Child.start('pipeline', 'serve-pipeline.ts', {
    nodeArgs,
    env: childEnv({ DATABASE_URL: db.url, MOCK_SERVER_URL: mock.url }),
    logFile: path.join(workDir, 'pipeline.log'),
    tsx: args.tsx,
  });
  cleanups.push(() => pipeline.stop());
  return pipeline;
}

async function setDataset(mock: Child, size: number, version: number): Promise<void> {
  await mock.request({ type: 'dataset', size, version, source: args.source }, 120_000);
}

interface IngestAnswer {
  seconds: number;
  inserted: number;
  updated: number;
  unchanged: number;
  records_processed: number;
}

async function ingest(pipeline: Child, expectProcessed: number): Promise<IngestAnswer> {
  const start = performance.now();
  const res = await fetch(`${pipeline.url}/api/ingest`, { method: 'POST', signal: AbortSignal.timeout(15 * 60_000) });
  const seconds = (performance.now() - start) / 1000;
  const body = (await res.json()) as Omit<IngestAnswer, 'seconds'> & { detail?: string; message?: string };
  if (res.status !== 200) throw new Error(`POST /api/ingest answered ${res.status}: ${JSON.stringify(body)}`);
  if (body.records_processed !== expectProcessed) {
    throw new Error(`ingest processed ${body.records_processed} records, expected ${expectProcessed}`);
  }
  return { ...body, seconds };
}

/** Before a timed run: the machine quiet (others' work is not ours to time), then a checkpoint. */
async function settle(db: BenchDatabase): Promise<void> {
  const busy = await waitForQuiet(os.availableParallelism());
  if (busy >= 0.25) log(`  (the machine stayed busy: ${Math.round(busy * 100)}% of its CPU used by other work; measuring anyway)`);
  await checkpoint(db.pool);
}

/** Waits until the pipeline's queries left over from a load run have finished (at most 2 min). */
async function quiesce(db: BenchDatabase): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const { rows } = await db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity
       WHERE datname = $1 AND pid <> pg_backend_pid() AND state = 'active' AND backend_type = 'client backend'`,
      [db.name],
    );
    if (rows[0]!.n === 0 || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  await new Promise((r) => setTimeout(r, 500));
}

async function vacuum(db: BenchDatabase): Promise<void> {
  await db.pool.query('VACUUM (ANALYZE) customers');
}

const fmt = (s: number) => `${s.toFixed(2)} s`;
const mbs = (b: number) => Math.round((b / MB) * 10) / 10;

// ---- the measurements -----------------------------------------------------

async function measureIngest(db: BenchDatabase, mock: Child, pipeline: Child): Promise<IngestResults> {
  const n = RECORDS;
  const loadStart = os.loadavg()[0]!;
  log(`preparing the COPY text of ${n.toLocaleString('en-US')} records (untimed)`);
  let base: CopyPage[] | null = prepareCopyText(n, 0);
  await setDataset(mock, n, 0);

  const cpu: IngestResults['cpu'] = {
    first: [],
    firstBare: [],
    firstSchema: [],
    unchanged: [],
    unchangedBare: [],
    unchangedSchema: [],
    changed: [],
    changedBare: [],
    changedSchema: [],
  };
  const first: number[] = [];
  const firstBare: number[] = [];
  const firstSchema: number[] = [];
  const firstWrites: WriteCounts[] = [];
  await pipeline.resetPeak();
  await createBareTable(db.pool);
  const timedIngest = async (label: string, expect: { inserted?: number; updated?: number }) => {
    await settle(db);
    const mark = await markWrites(db.pool);
    const sampler = args.phases ? sampleActivity(db.pool, db.name) : null;
    const account = await cpuAccount(db.pool, db.name, { pipeline: pipeline.pid, mock: mock.pid });
    const a = await profiled(label, [pipeline, mock], () => ingest(pipeline, n));
    const cpu = await account.stop();
    const phases = await sampler?.stop();
    const w = await mark.wait();
    if (phases) {
      const parts = Object.entries(phases)
        .sort((x, y) => y[1] - x[1])
        .map(([k, s]) => `${k} ${s.toFixed(2)} s`);
      log(`  database sessions during it: ${parts.join('; ')}`);
    }
    if (expect.inserted !== undefined && a.inserted !== expect.inserted)
      throw new Error(`${label}: inserted ${a.inserted}, expected ${expect.inserted}`);
    log(
      `${label}: ${fmt(a.seconds)} (inserted ${a.inserted}, updated ${a.updated}, unchanged ${a.unchanged}; row versions ${w.rowVersions}, new xmin ${w.rowsWithNewXmin})`,
    );
    log(`  CPU: ${formatCpu(cpu)}`);
    return { a, w, cpu };
  };
  const timedFloor = async (label: string, chunks: CopyPage[], table: typeof BARE_TABLE | 'customers', end: 'commit' | 'rollback') => {
    await settle(db);
    const account = await cpuAccount(db.pool, db.name, { pipeline: pipeline.pid, mock: mock.pid });
    const f = await runPlainFloor(db.pool, chunks, table, end);
    const cpu = await account.stop();
    log(`  CPU: ${formatCpu(cpu)}`);
    log(
      `${label}: ${fmt(f.seconds)} (COPY ${fmt(f.copySeconds)}, INSERT ... ON CONFLICT ${fmt(f.mergeSeconds)}; rows written ${f.written})`,
    );
    return { ...f, cpu };
  };
  /** Each measurement runs the bare floor, the same-schema floor and the ingest, in a rotating order (drift hits all three). */
  const rotation = (r: number) =>
    [
      ['bare', 'schema', 'ingest'],
      ['ingest', 'bare', 'schema'],
      ['schema', 'ingest', 'bare'],
    ][r % 3]!;

  for (let r = 0; r < REPEAT; r++) {
    for (const what of rotation(r)) {
      if (what === 'bare') {
        await db.pool.query(`TRUNCATE ${BARE_TABLE}`);
        const f = await timedFloor(`first-ingest bare floor ${r + 1}/${REPEAT}`, base, BARE_TABLE, 'commit');
        firstBare.push(f.seconds);
        cpu.firstBare.push(f.cpu);
      } else if (what === 'schema') {
        await emptyCustomers(db.pool);
        const f = await timedFloor(`first-ingest same-schema floor ${r + 1}/${REPEAT}`, base, 'customers', 'commit');
        firstSchema.push(f.seconds);
        cpu.firstSchema.push(f.cpu);
      } else {
        await emptyCustomers(db.pool);
        const { a, w, cpu: c } = await timedIngest(`first ingest ${r + 1}/${REPEAT}`, { inserted: n });
        first.push(a.seconds);
        cpu.first.push(c);
        firstWrites.push(w);
      }
    }
  }
  const firstPeakRssMB = mbs((await pipeline.memory()).peak);
  log('VACUUM ANALYZE customers (what autovacuum does after a bulk load)');
  await vacuum(db);
  await db.pool.query(`VACUUM ANALYZE ${BARE_TABLE}`);

  const unchanged: number[] = [];
  const unchangedBare: number[] = [];
  const unchangedSchema: number[] = [];
  const unchangedWrites: WriteCounts[] = [];
  // Two seconds each: more runs for a steadier median on a shared machine.
  const UNCHANGED_REPEAT = Math.max(REPEAT, 5);
  for (let r = 0; r < UNCHANGED_REPEAT; r++) {
    for (const what of rotation(r)) {
      if (what === 'bare') {
        const f = await timedFloor(`unchanged bare floor ${r + 1}/${UNCHANGED_REPEAT}`, base, BARE_TABLE, 'rollback');
        unchangedBare.push(f.seconds);
        cpu.unchangedBare.push(f.cpu);
      } else if (what === 'schema') {
        const f = await timedFloor(`unchanged same-schema floor ${r + 1}/${UNCHANGED_REPEAT}`, base, 'customers', 'rollback');
        unchangedSchema.push(f.seconds);
        cpu.unchangedSchema.push(f.cpu);
      } else {
        const { a, w, cpu: c } = await timedIngest(`unchanged re-ingest ${r + 1}/${UNCHANGED_REPEAT}`, { inserted: 0 });
        unchanged.push(a.seconds);
        cpu.unchanged.push(c);
        unchangedWrites.push(w);
      }
    }
  }
  // The prepared pages (hundreds of MB at 1M records) go before the 10%-changed runs.
  // eslint-disable-next-line no-useless-assignment
  base = null;

  const changed: number[] = [];
  const changedBare: number[] = [];
  const changedSchema: number[] = [];
  const changedWrites: WriteCounts[] = [];
  const changedUpdated: number[] = [];
  for (let v = 1; v <= REPEAT; v++) {
    const chunks = prepareCopyText(n, v);
    await setDataset(mock, n, v);
    // The floors roll back, so the ingest that follows starts from the same state
    // (the bare table stays at version 0: 10% of it differs from version v too).
    const b = await timedFloor(`10%-changed bare floor ${v}/${REPEAT}`, chunks, BARE_TABLE, 'rollback');
    changedBare.push(b.seconds);
    cpu.changedBare.push(b.cpu);
    const f = await timedFloor(`10%-changed same-schema floor ${v}/${REPEAT}`, chunks, 'customers', 'rollback');
    changedSchema.push(f.seconds);
    cpu.changedSchema.push(f.cpu);
    const { a, w, cpu: c } = await timedIngest(`10%-changed re-ingest ${v}/${REPEAT}`, { inserted: 0 });
    changed.push(a.seconds);
    cpu.changed.push(c);
    changedWrites.push(w);
    changedUpdated.push(a.updated);
  }
  await setDataset(mock, n, 0);

  return {
    date: new Date().toISOString(),
    command: COMMAND,
    loadavg: [loadStart, os.loadavg()[0]!],
    records: n,
    repeat: REPEAT,
    first: { seconds: first },
    firstBare: { seconds: firstBare },
    firstSchema: { seconds: firstSchema },
    firstWrites,
    firstPeakRssMB,
    unchanged: { seconds: unchanged },
    unchangedBare: { seconds: unchangedBare },
    unchangedSchema: { seconds: unchangedSchema },
    unchangedWrites,
    changed: { seconds: changed },
    changedBare: { seconds: changedBare },
    changedSchema: { seconds: changedSchema },
    changedWrites,
    changedUpdated,
    changedExpected: changedCount(n),
    cpu,
  };
}

async function measureRead(db: BenchDatabase, mock: Child, pipeline: Child): Promise<ReadResults> {
  const n = RECORDS;
  const loadStart = os.loadavg()[0]!;
  await setDataset(mock, n, 0);
  log('VACUUM ANALYZE customers before the read API runs');
  await vacuum(db);
  const opts = {
    connections: CONNECTIONS,
    duration: DURATION,
    warmup: WARMUP,
    account: () => cpuAccount(db.pool, db.name, { pipeline: pipeline.pid, mock: mock.pid }),
  };
  const randomId = () => generatedId(Math.floor(Math.random() * n));
  const limit = 10;
  const deepPage = Math.floor(n / 2 / limit) + 1;
  const mockPages = Math.max(1, Math.floor(n / 100));
  const run = async (label: string, url: string, req: Parameters<typeof measure>[1]) => {
    await quiesce(db);
    await settle(db);
    const r = await profiled(label, [pipeline, mock], () => measure(url, req, opts));
    const failed = r.errors || r.timeouts || r.non2xx ? ` — ${r.errors} errors, ${r.timeouts} timeouts, ${r.non2xx} non-2xx` : '';
    log(`${label}: ${Math.round(r.reqPerSec)} req/s, p50 ${r.p50} ms, p99 ${r.p99} ms${failed}`);
    if (r.cpu) log(`  CPU per request: ${formatCpu(r.cpu, { count: r.requests, unit: 'µs' })}`);
    return r;
  };
  const ceilingFirst = await run('ceiling /bench/constant', pipeline.url, { method: 'GET', path: '/bench/constant' });
  const byId = await run(
    'pipeline GET by id',
    pipeline.url,
    randomPath(() => `/api/customers/${randomId()}`),
  );
  const list = await run('pipeline list page 1', pipeline.url, { method: 'GET', path: `/api/customers?page=1&limit=${limit}` });
  const deep = await run(`pipeline list page ${deepPage}`, pipeline.url, {
    method: 'GET',
    path: `/api/customers?page=${deepPage}&limit=${limit}`,
  });
  const mockList = await run(
    'mock list limit=100',
    mock.url,
    randomPath(() => `/api/customers?page=${1 + Math.floor(Math.random() * mockPages)}&limit=100`),
  );
  const mockLookup = await run(
    'mock lookup',
    mock.url,
    randomPath(() => `/api/customers/${randomId()}`),
  );
  const ceilingLast = await run('ceiling /bench/constant (again)', pipeline.url, { method: 'GET', path: '/bench/constant' });
  return {
    date: new Date().toISOString(),
    command: COMMAND,
    loadavg: [loadStart, os.loadavg()[0]!],
    records: n,
    connections: CONNECTIONS,
    duration: DURATION,
    ceiling: [ceilingFirst, ceilingLast],
    byId,
    list,
    deep: { ...deep, page: deepPage },
    mockList,
    mockLookup,
  };
}

async function measureRss(db: BenchDatabase, mock: Child): Promise<RssResults> {
  const sizes: RssResults['sizes'] = [];
  const loadStart = os.loadavg()[0]!;
  const runs = Array.from({ length: RSS_REPEAT }, () => RSS_SIZES).flat();
  for (const size of runs) {
    await emptyCustomers(db.pool);
    await setDataset(mock, size, 0);
    const pipeline = await startPipeline(db, mock, args['heap-trace'] ? ['--expose-gc'] : []);
    await new Promise((r) => setTimeout(r, 1000)); // let start-up settle
    const idle = await pipeline.memory();
    await pipeline.request({ type: 'mem-start' });
    // --heap-trace: a full GC every 2 s during the ingest, and what survives it (diagnostic; skews the figures).
    const trace: string[] = [];
    const tracer = args['heap-trace']
      ? setInterval(() => {
          pipeline.request({ type: 'mem-gc' }).then(
            (m) => trace.push(`${mbs((m.now as NodeJS.MemoryUsage).heapUsed)}`),
            () => {},
          );
        }, 2000)
      : null;
    const sampler = args.phases ? sampleActivity(db.pool, db.name, 100) : null;
    const a = await ingest(pipeline, size).finally(() => tracer && clearInterval(tracer));
    const phases = await sampler?.stop();
    if (phases) {
      const parts = Object.entries(phases)
        .sort((x, y) => y[1] - x[1])
        .map(([k, s]) => `${k} ${s.toFixed(1)} s`);
      log(`  database sessions during it: ${parts.join('; ')}`);
    }
    if (tracer) log(`heapUsed (MB) after a full GC, every 2 s of the ${size.toLocaleString('en-US')}-record ingest: ${trace.join(' ')}`);
    const parts = (await pipeline.request({ type: 'mem-stop' })).max as Record<string, number>;
    const mem = await pipeline.memory();
    await pipeline.stop();
    const heap = {
      heapTotalMB: mbs(parts.heapTotal ?? 0),
      heapUsedMB: mbs(parts.heapUsed ?? 0),
      externalMB: mbs(parts.external ?? 0),
      arrayBuffersMB: mbs(parts.arrayBuffers ?? 0),
    };
    sizes.push({ records: size, idleMB: mbs(idle.rss), peakMB: mbs(mem.peak), seconds: a.seconds, ...heap });
    log(
      `RSS, ${size.toLocaleString('en-US')} records: idle ${mbs(idle.rss)} MB, peak ${mbs(mem.peak)} MB (ingest ${fmt(a.seconds)}); ` +
        `highest heapTotal ${heap.heapTotalMB} MB, heapUsed ${heap.heapUsedMB} MB, external ${heap.externalMB} MB, arrayBuffers ${heap.arrayBuffersMB} MB`,
    );
  }
  return { date: new Date().toISOString(), command: COMMAND, loadavg: [loadStart, os.loadavg()[0]!], sizes };
}

// ---- main -----------------------------------------------------------------

async function main(): Promise<void> {
  let server: Server;
  try {
    server = await findServer(process.env.DATABASE_URL);
  } catch (err) {
    return fail((err as Error).message, 2);
  }
  cleanups.push(() => server.stop());
  const db = await createBenchDatabase(server);
  cleanups.push(() => db.drop());
  log(`PostgreSQL ${server.version}, ${server.kind}; database ${db.name}`);
  const customersIndexes = (
    await db.pool.query<{ i: string }>(`SELECT indexname AS i FROM pg_indexes WHERE tablename = 'customers' ORDER BY indexname`)
  ).rows.map((r) => r.i);

  if (!args.tsx) {
    log('compiling the servers (tsc → bench/.build), to run them as production does');
    const warnings = await compileChildren();
    if (warnings) log(`tsc reported errors (JavaScript emitted anyway):\n${warnings.split('\n').slice(0, 10).join('\n')}`);
  }
  const mock = await startMock(PARTS.has('ingest') || PARTS.has('read') ? RECORDS : RSS_SIZES[0]!);
  const cpus = os.cpus();
  const results: Results = {
    env: {
      date: new Date().toISOString(),
      cpu: cpus[0]?.model.trim() ?? 'unknown',
      cores: os.availableParallelism(),
      memoryGB: Math.round(os.totalmem() / 1024 ** 3),
      os: `${os.type()} ${os.release()} ${os.arch()}`,
      node: process.version,
      postgres: server.version,
      database: server.kind,
      runtime: args.tsx ? 'TypeScript via tsx (--tsx)' : 'compiled by tsc, plain node (as in the Docker image)',
      loadavg: [os.loadavg()[0]!, 0],
      customersIndexes,
      settings: pipelineSettings(),
      source:
        args.source === 'memory'
          ? 'pre-serialised in memory, as a MOCK_DATA_FILE is served (--source memory)'
          : 'generated from (seed, index) as MOCK_GENERATE serves: computed on first use, then kept as UTF-8 bytes (the first 1,000,000)',
    },
  };
  if (PARTS.has('ingest') || PARTS.has('read')) {
    const pipeline = await startPipeline(db, mock);
    log(`mock ${mock.url} (pid ${mock.pid}), pipeline ${pipeline.url} (pid ${pipeline.pid}); ${RECORDS.toLocaleString('en-US')} records`);
    if (PARTS.has('ingest')) results.ingest = await measureIngest(db, mock, pipeline);
    else {
      log('loading the table for the read API (one ingest, untimed)');
      await setDataset(mock, RECORDS, 0);
      await ingest(pipeline, RECORDS);
    }
    if (PARTS.has('read')) results.read = await measureRead(db, mock, pipeline);
    await pipeline.stop();
  }
  if (PARTS.has('rss')) results.rss = await measureRss(db, mock);

  results.env.loadavg[1] = os.loadavg()[0]!;
  const table = renderTable(results);
  process.stdout.write(`\n${table}\n`);
  // BENCHMARKS.md holds one whole run: every figure in it comes from the same run of the same code.
  const skewed = args.profile || args['heap-trace'] || args.phases;
  const partial = !(results.ingest && results.read && results.rss);
  if (skewed) log('--profile, --heap-trace and --phases skew the figures: BENCHMARKS.md is left as it is');
  else if (partial) log('not every part was measured (npm run bench measures all): BENCHMARKS.md is left as it is');
  if (!args['no-write'] && !skewed && !partial) {
    writeMarkdown(OUTPUT, results);
    log(`wrote ${path.relative(process.cwd(), OUTPUT) || OUTPUT}`);
  }
  if (args.profile) log(`CPU profiles in ${profileDir} (npx tsx bench/diagnostics/profile-summary.ts <file>)`);
}

try {
  await main();
} catch (err) {
  await fail((err as Error).stack ?? String(err), 1);
}
await cleanup();
log('done');
process.exit(0);
