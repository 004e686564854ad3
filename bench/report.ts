// The results of a run, the one table, and BENCHMARKS.md. The file keeps the
// results it was made from (a JSON comment), so that a run that skipped a
// part (the RSS runs, or everything but them) carries the earlier figures
// over, marked with the date they were measured.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { LoadResult } from './load.js';
import type { WriteCounts } from './database.js';

export interface Samples {
  seconds: number[];
}

export interface RunInfo {
  date: string;
  command: string;
}

export interface IngestResults extends RunInfo {
  records: number;
  repeat: number;
  first: Samples;
  firstFloor: Samples;
  firstWrites: WriteCounts[];
  firstPeakRssMB: number;
  unchanged: Samples;
  unchangedFloor: Samples;
  unchangedWrites: WriteCounts[];
  changed: Samples;
  changedFloor: Samples;
  changedWrites: WriteCounts[];
  changedUpdated: number[];
  changedExpected: number;
}

export interface ReadResults extends RunInfo {
  records: number;
  connections: number;
  duration: number;
  ceiling: LoadResult[];
  byId: LoadResult;
  list: LoadResult;
  deep: LoadResult & { page: number };
  mockList: LoadResult;
  mockLookup: LoadResult;
}

export interface RssResults extends RunInfo {
  sizes: { records: number; idleMB: number; peakMB: number; seconds: number }[];
}

export interface Environment {
  date: string;
  cpu: string;
  cores: number;
  memoryGB: number;
  os: string;
  node: string;
  postgres: string;
  database: string;
  /** How the servers ran: compiled JavaScript under node, or tsx. */
  runtime: string;
  /** 1-minute load average at the start and at the end (other work on the machine skews figures). */
  loadavg: [number, number];
}

export interface Results {
  env: Environment;
  ingest?: IngestResults;
  read?: ReadResults;
  rss?: RssResults;
}

const MARK = 'bench-results';

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function readPrevious(file: string): Results | null {
  if (!existsSync(file)) return null;
  const m = new RegExp(`<!-- ${MARK}\\n([\\s\\S]*?)\\n-->`).exec(readFileSync(file, 'utf8'));
  if (!m) return null;
  try {
    return JSON.parse(m[1]!) as Results;
  } catch {
    return null;
  }
}

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const sec = (s: number) => `${s.toFixed(2)} s`;
const ratio = (r: number) => `${r.toFixed(2)}×`;
const pct = (r: number) => `${Math.round(r * 100)}%`;
const status = (ok: boolean) => (ok ? 'PASS' : '**FAIL**');
const samples = (s: Samples) => s.seconds.map((x) => x.toFixed(2)).join(' / ');
const load = (r: LoadResult) => `${int(r.reqPerSec)} req/s, p50 ${r.p50} ms, p99 ${r.p99} ms`;

type Row = [string, string, string, string, string];

export function tableRows(res: Results): Row[] {
  const rows: Row[] = [];
  const i = res.ingest;
  if (i) {
    const n = i.records;
    const first = median(i.first.seconds);
    const firstFloor = median(i.firstFloor.seconds);
    const un = median(i.unchanged.seconds);
    const unFloor = median(i.unchangedFloor.seconds);
    const ch = median(i.changed.seconds);
    const chFloor = median(i.changedFloor.seconds);
    const writes = Math.max(...i.unchangedWrites.map((w) => w.rowVersions));
    const xminWrites = Math.max(...i.unchangedWrites.map((w) => w.rowsWithNewXmin));
    rows.push(
      ['1', `First ingest into an empty table, ${int(n)} records`, `${sec(first)}, ${int(n / first)} rows/s`, '—', ''],
      ['2', 'Floor: COPY into staging + MERGE_SQL, empty table', `${sec(firstFloor)}, ${int(n / firstFloor)} rows/s`, '—', ''],
      ['2', 'First ingest ÷ floor', ratio(first / firstFloor), '≤ 1.5×', status(first / firstFloor <= 1.5)],
      ['3', 'Re-ingest, nothing changed', sec(un), '—', ''],
      [
        '3',
        'Row versions written to `customers` by it (pg_stat_user_tables)',
        `${int(writes)} (rows with a new xmin: ${int(xminWrites)})`,
        '0',
        status(writes === 0 && xminWrites === 0),
      ],
      ['3', 'Floor: COPY + MERGE_SQL of the unchanged rows', sec(unFloor), '—', ''],
      ['3', 'Unchanged re-ingest ÷ floor', ratio(un / unFloor), '≤ 1.5×', status(un / unFloor <= 1.5)],
      [
        '4',
        'Re-ingest, 10% of records changed',
        `${sec(ch)}, updated ${i.changedUpdated.map(int).join(' / ')}`,
        `updated = ${int(i.changedExpected)}`,
        status(i.changedUpdated.every((u) => u === i.changedExpected)),
      ],
      ['4', 'Floor: COPY + MERGE_SQL of the changed source (info)', `${sec(chFloor)} (ingest ÷ floor ${ratio(ch / chFloor)})`, '—', ''],
    );
  }
  const r = res.rss;
  if (r) {
    const small = r.sizes.find((s) => s.records === 100_000);
    const big = r.sizes.find((s) => s.records === 1_000_000);
    for (const s of r.sizes) {
      const target = s === big ? '≤ 200 MB' : '—';
      rows.push([
        '5',
        `Pipeline peak RSS, ingest of ${int(s.records)} records (fresh process)`,
        `${int(s.peakMB)} MB (idle before: ${int(s.idleMB)} MB; ingest ${sec(s.seconds)})`,
        target,
        s === big ? status(s.peakMB <= 200) : '',
      ]);
    }
    if (small && big) {
      const growth = big.peakMB / small.peakMB - 1;
      rows.push(['5', 'Peak RSS at 1M above the 100k figure', `+${pct(growth)}`, '< 20%', status(growth < 0.2)]);
    }
  }
  const rd = res.read;
  if (rd) {
    const ceiling = Math.max(...rd.ceiling.map((c) => c.reqPerSec));
    const vs = (x: LoadResult) => x.reqPerSec / ceiling;
    rows.push(
      ['6', 'Ceiling: `GET /bench/constant` (same app, plugins, logger)', rd.ceiling.map(load).join('; then '), '—', ''],
      ['6', 'Pipeline `GET /api/customers/:id` (random ids)', `${load(rd.byId)} — ${pct(vs(rd.byId))} of ceiling`, '≥ 60%', status(vs(rd.byId) >= 0.6)],
      ['6', 'Pipeline `GET /api/customers?page=1&limit=10`', `${load(rd.list)} — ${pct(vs(rd.list))} of ceiling`, '≥ 40%', status(vs(rd.list) >= 0.4)],
      [
        '6',
        `Pipeline deep page \`?page=${rd.deep.page}&limit=10\` (middle of the table)`,
        `${load(rd.deep)} — ${pct(vs(rd.deep))} of ceiling`,
        '≥ 40%',
        status(vs(rd.deep) >= 0.4),
      ],
      ['7', 'Mock `GET /api/customers?page=<random>&limit=100`', `${load(rd.mockList)} — ${pct(vs(rd.mockList))} of ceiling`, '≥ 50%', status(vs(rd.mockList) >= 0.5)],
      ['7', 'Mock `GET /api/customers/:id` (random ids)', `${load(rd.mockLookup)} — ${pct(vs(rd.mockLookup))} of ceiling`, '—', ''],
    );
  }
  return rows;
}

export function renderTable(res: Results): string {
  const head = '| # | Measurement | Result | Target | Status |\n| --- | --- | --- | --- | --- |';
  return [head, ...tableRows(res).map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

function details(res: Results): string {
  const out: string[] = [];
  const i = res.ingest;
  if (i) {
    const w = (ws: WriteCounts[]) =>
      ws.map((x) => `ins ${x.inserted} upd ${x.updated} (HOT ${x.hotUpdated}), customers_count ${x.countRowVersions}`).join('; ');
    out.push(
      `### Ingest samples (${i.records.toLocaleString('en-US')} records; ${i.date}; \`${i.command}\`)`,
      '',
      'Seconds of each run, in the order run (the median is quoted above):',
      '',
      `- first ingest: ${samples(i.first)} — floor: ${samples(i.firstFloor)}`,
      `- unchanged re-ingest: ${samples(i.unchanged)} — floor: ${samples(i.unchangedFloor)}`,
      `- 10% changed re-ingest: ${samples(i.changed)} — floor: ${samples(i.changedFloor)}`,
      `- pipeline peak RSS over the ${i.records.toLocaleString('en-US')}-record ingests: ${Math.round(i.firstPeakRssMB)} MB`,
      '',
      'Row versions written (deltas of pg_stat_user_tables, per run):',
      '',
      `- first ingest: ${w(i.firstWrites)}`,
      `- unchanged: ${w(i.unchangedWrites)}`,
      `- 10% changed: ${w(i.changedWrites)}`,
      '',
    );
  }
  if (res.read) out.push(`Read API measured ${res.read.date} (\`${res.read.command}\`), ${res.read.connections} connections, ${res.read.duration} s per route after a warm-up.`, '');
  if (res.rss) out.push(`Peak RSS measured ${res.rss.date} (\`${res.rss.command}\`).`, '');
  return out.join('\n');
}

export function renderMarkdown(res: Results): string {
  const e = res.env;
  return `# Benchmarks

Generated by \`npm run bench\` (bench/run.ts) — do not edit by hand; rerun it.

| | |
| --- | --- |
| Date | ${e.date} |
| Machine | ${e.cpu}, ${e.cores} cores, ${e.memoryGB} GB RAM, ${e.os} |
| Node | ${e.node} |
| PostgreSQL | ${e.postgres} — ${e.database} |
| Servers | ${e.runtime} |
| Load average (1 min) | ${e.loadavg[0].toFixed(2)} at the start, ${e.loadavg[1].toFixed(2)} at the end |

## Reproduce

\`\`\`sh
npm run bench                      # 200,000 records: ingests, floors, read API, mock (~3 min on 2 cores)
npm run bench -- --rss             # the same, plus peak RSS of fresh pipeline processes at 100k and 1M records
npm run bench -- --rss-only        # only the RSS runs; the other figures are kept from the previous run
npm run bench -- --records 1000000 # everything at 1M records
\`\`\`

Other options: \`--repeat 3\` (timed runs per ingest measurement), \`--duration 10\` and
\`--connections 32\` (autocannon, per route), \`--profile\` (the pipeline child runs with
\`--cpu-prof\`; profiles land in \`bench/.profiles/\`, summarised by
\`npx tsx bench/profile-summary.ts <file>\`), \`--no-write\` (print only). The database is
\`DATABASE_URL\` if set, else \`postgres://postgres@127.0.0.1:5432/postgres\`, else an
embedded PostgreSQL; a fresh \`bench_<random>\` database is created and dropped.

## Results

${renderTable(res)}

${details(res)}
## How it is measured

- The mock server and the pipeline run in their own Node processes (\`bench/serve-mock.ts\`,
  \`bench/serve-pipeline.ts\`), built by the product's \`buildMockApp\` / \`buildPipelineApp\` with
  the production settings (\`loadConfig\`) and logger; the benchmark drives them over HTTP
  (\`POST /api/ingest\`, autocannon) from a third process.
- An ingest's time is the wall time of \`POST /api/ingest\` as the client sees it. The floor is
  the same work done by PostgreSQL alone: the product's \`CREATE_STAGING_SQL\`,
  \`COPY_STAGING_SQL\` (COPY text made by \`stagingRow\` before the clock starts) and
  \`mergeStaging\` (ANALYZE + \`MERGE_SQL\`) in one transaction — committed for the first-ingest
  floor (then the table is truncated again), rolled back (untimed) for the re-ingest floors, so
  every floor runs on the same pre-state as the ingest it is compared to. Floors and ingests
  alternate, each after a \`CHECKPOINT\`; the median of the runs is quoted.
- After the first ingests the table is \`VACUUM ANALYZE\`d (as autovacuum would do), and again
  before the read API runs.
- Row versions written: deltas of \`n_tup_ins + n_tup_upd\` (HOT updates are counted in
  \`n_tup_upd\`) of \`customers\` in \`pg_stat_user_tables\`, read once the ingest's own
  statistics have been flushed; cross-checked by counting live rows whose \`xmin\` is newer than
  the ingest.
- The 10%-changed source changes the last name of every 10th record, differently on each run,
  so each run updates exactly 10% of the rows.
- Peak RSS is VmHWM of the pipeline process (/proc/<pid>/status): a fresh process per size,
  one ingest into an empty table.
- Read API: ${res.read ? `${res.read.connections} connections, ${res.read.duration} s per route` : 'autocannon'}, after a warm-up run; the ceiling
  (\`/bench/constant\`, a constant record through the same Customer response schema in the same
  app) is run first and last, and the higher figure is the reference.

<!-- ${MARK}
${JSON.stringify(res, null, 1)}
-->
`;
}

export function writeMarkdown(file: string, res: Results): void {
  writeFileSync(file, renderMarkdown(res));
}
