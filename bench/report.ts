// The results of a run, the one table, and BENCHMARKS.md. The file is
// written from one whole run (every part); a partial run prints its table
// and leaves the file as it is.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { LoadResult } from './load.js';
import type { WriteCounts } from './database.js';
import type { CpuSeconds } from './cpu.js';

export interface Samples {
  seconds: number[];
}

export interface RunInfo {
  date: string;
  command: string;
  /** 1-minute load average at the start and at the end of this part. */
  loadavg?: [number, number];
}

export interface IngestResults extends RunInfo {
  records: number;
  repeat: number;
  first: Samples;
  /** PostgreSQL's plain COPY + INSERT ... ON CONFLICT into a table with only its primary key. */
  firstBare: Samples;
  /** The same into `customers`, with its indexes and triggers. */
  firstSchema: Samples;
  firstWrites: WriteCounts[];
  firstPeakRssMB: number;
  unchanged: Samples;
  unchangedBare: Samples;
  unchangedSchema: Samples;
  unchangedWrites: WriteCounts[];
  changed: Samples;
  changedBare: Samples;
  changedSchema: Samples;
  changedWrites: WriteCounts[];
  changedUpdated: number[];
  changedExpected: number;
  /** CPU seconds per party, per run, in the order of `seconds`. */
  cpu?: Record<
    'first' | 'firstBare' | 'firstSchema' | 'unchanged' | 'unchangedBare' | 'unchangedSchema' | 'changed' | 'changedBare' | 'changedSchema',
    CpuSeconds[]
  >;
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
  sizes: {
    records: number;
    idleMB: number;
    peakMB: number;
    seconds: number;
    /** Highest values of process.memoryUsage() parts during the ingest (sampled every 50 ms). */
    heapTotalMB?: number;
    heapUsedMB?: number;
    externalMB?: number;
    arrayBuffersMB?: number;
  }[];
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
  /** What the mock serves: generated per request (MOCK_GENERATE) or pre-serialised in memory (as a data file). */
  source: string;
  /** How the servers ran: compiled JavaScript under node, or tsx. */
  runtime: string;
  /** Indexes on customers when measured: every one is maintained by the merge (and the floor). */
  customersIndexes?: string[];
  /** The pipeline's ingest and pool settings when measured. */
  settings?: string;
  /** 1-minute load average at the start and at the end (other work on the machine skews figures). */
  loadavg: [number, number];
}

export interface Results {
  env: Environment;
  ingest?: IngestResults;
  read?: ReadResults;
  rss?: RssResults;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const sec = (s: number) => `${s.toFixed(2)} s`;
const ratio = (r: number) => `${r.toFixed(2)}×`;
const pct = (r: number) => `${Math.round(r * 100)}%`;
const status = (ok: boolean) => (ok ? 'PASS' : '**FAIL**');
const samples = (s: Samples) => s.seconds.map((x) => x.toFixed(2)).join(' / ');
const load = (r: LoadResult) => {
  const failures = [
    r.errors ? `${r.errors} errors` : '',
    r.timeouts ? `${r.timeouts} timeouts` : '',
    r.non2xx ? `${r.non2xx} non-2xx` : '',
  ].filter(Boolean);
  return `${int(r.reqPerSec)} req/s, p50 ${r.p50} ms, p99 ${r.p99} ms${failures.length ? ` (**${failures.join(', ')}**)` : ''}`;
};
/** A read target is met only by the rate, and with no failed request. */
const clean = (r: LoadResult) => !r.errors && !r.timeouts && !r.non2xx;

type Row = [string, string, string, string, string];

/** The largest side writes of the runs (other tables than customers and the run records). */
function sideWrites(ws: WriteCounts[]): string {
  const max: Record<string, number> = {};
  for (const w of ws) for (const [t, n] of Object.entries(w.otherTables ?? {})) max[t] = Math.max(max[t] ?? 0, n);
  const parts = Object.entries(max).map(([t, n]) => `${t} ${int(n)}`);
  return parts.length ? `; rows written elsewhere per run: ${parts.join(', ')}` : '';
}

export function tableRows(res: Results): Row[] {
  const rows: Row[] = [];
  const i = res.ingest;
  if (i) {
    const n = i.records;
    const first = median(i.first.seconds);
    const firstBare = median(i.firstBare.seconds);
    const firstSchema = median(i.firstSchema.seconds);
    const un = median(i.unchanged.seconds);
    const unBare = median(i.unchangedBare.seconds);
    const unSchema = median(i.unchangedSchema.seconds);
    const ch = median(i.changed.seconds);
    const chBare = median(i.changedBare.seconds);
    const chSchema = median(i.changedSchema.seconds);
    const writes = Math.max(...i.unchangedWrites.map((w) => w.rowVersions));
    const xminWrites = Math.max(...i.unchangedWrites.map((w) => w.rowsWithNewXmin));
    const floors = (bare: number, schema: number) => `bare ${sec(bare)}; same schema ${sec(schema)}`;
    const vsSchema = (x: number, schema: number) => `${ratio(x / schema)} of the same-schema floor (info)`;
    rows.push(
      ['1', `First ingest into an empty table, ${int(n)} records`, `${sec(first)}, ${int(n / first)} rows/s`, '—', ''],
      ['1', 'Floors: plain COPY + INSERT … ON CONFLICT into a PK-only table / into `customers`', floors(firstBare, firstSchema), '—', ''],
      [
        '1',
        'First ingest ÷ bare floor',
        `${ratio(first / firstBare)}; ${vsSchema(first, firstSchema)}`,
        '≤ 2.0×',
        status(first / firstBare <= 2.0),
      ],
      ['2', 'Re-ingest, nothing changed', sec(un), '—', ''],
      [
        '2',
        'Row versions written to `customers` by it (pg_stat_user_tables)',
        `${int(writes)} (rows with a new xmin: ${int(xminWrites)})${sideWrites(i.unchangedWrites)}`,
        '0',
        status(writes === 0 && xminWrites === 0),
      ],
      ['2', 'Floors on the unchanged rows', floors(unBare, unSchema), '—', ''],
      ['2', 'Unchanged re-ingest ÷ bare floor', `${ratio(un / unBare)}; ${vsSchema(un, unSchema)}`, '≤ 1.0×', status(un / unBare <= 1.0)],
      [
        '3',
        'Re-ingest, 10% of records changed',
        `${sec(ch)}, updated ${i.changedUpdated.map(int).join(' / ')}`,
        `updated = ${int(i.changedExpected)}`,
        status(i.changedUpdated.every((u) => u === i.changedExpected)),
      ],
      ['3', 'Floors on the changed source', floors(chBare, chSchema), '—', ''],
      ['3', '10%-changed re-ingest ÷ bare floor', `${ratio(ch / chBare)}; ${vsSchema(ch, chSchema)}`, '≤ 1.5×', status(ch / chBare <= 1.5)],
    );
  }
  const r = res.rss;
  if (r) {
    // A fresh process per run; with several runs per size the highest peak counts.
    const peakOf = (n: number) => {
      const runs = r.sizes.filter((s) => s.records === n);
      return runs.length ? { peak: Math.max(...runs.map((s) => s.peakMB)), runs } : null;
    };
    const sizes = [...new Set(r.sizes.map((s) => s.records))];
    const small = peakOf(100_000);
    const big = peakOf(1_000_000);
    for (const n of sizes) {
      const p = peakOf(n)!;
      const isBig = n === 1_000_000;
      const samples = p.runs.length > 1 ? ` (runs: ${p.runs.map((s) => Math.round(s.peakMB)).join(' / ')} MB)` : '';
      rows.push([
        '5',
        `Pipeline peak RSS, ingest of ${int(n)} records (fresh process${p.runs.length > 1 ? `, highest of ${p.runs.length}` : ''})`,
        `${int(p.peak)} MB${samples}; idle before: ${int(p.runs[0]!.idleMB)} MB`,
        isBig ? '≤ 200 MB' : '—',
        isBig ? status(p.peak <= 200) : '',
      ]);
    }
    if (small && big) {
      const growth = big.peak / small.peak - 1;
      rows.push(['5', 'Peak RSS at 1M above the 100k figure', `${growth >= 0 ? '+' : ''}${pct(growth)}`, '< 20%', status(growth < 0.2)]);
    }
  }
  const rd = res.read;
  if (rd) {
    const ceiling = Math.max(...rd.ceiling.map((c) => c.reqPerSec));
    const vs = (x: LoadResult) => x.reqPerSec / ceiling;
    rows.push(
      ['6', 'Ceiling: `GET /bench/constant` (same app, plugins, logger)', rd.ceiling.map(load).join('; then '), '—', ''],
      [
        '6',
        'Pipeline `GET /api/customers/:id` (random ids)',
        `${load(rd.byId)} — ${pct(vs(rd.byId))} of ceiling`,
        '≥ 60%',
        status(vs(rd.byId) >= 0.6 && clean(rd.byId)),
      ],
      [
        '6',
        'Pipeline `GET /api/customers?page=1&limit=10`',
        `${load(rd.list)} — ${pct(vs(rd.list))} of ceiling`,
        '≥ 40%',
        status(vs(rd.list) >= 0.4 && clean(rd.list)),
      ],
      [
        '6',
        `Pipeline deep page \`?page=${rd.deep.page}&limit=10\` (middle of the table)`,
        `${load(rd.deep)} — ${pct(vs(rd.deep))} of ceiling`,
        '≥ 40%',
        status(vs(rd.deep) >= 0.4 && clean(rd.deep)),
      ],
      [
        '7',
        'Mock `GET /api/customers?page=<random>&limit=100`',
        `${load(rd.mockList)} — ${pct(vs(rd.mockList))} of ceiling`,
        '≥ 50%',
        status(vs(rd.mockList) >= 0.5 && clean(rd.mockList)),
      ],
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
      ws
        .map((x) => {
          const other = Object.entries(x.otherTables ?? {}).map(([t, n]) => `${t} ${n}`);
          return `customers: ins ${x.inserted} upd ${x.updated} (HOT ${x.hotUpdated})${other.length ? `; other tables: ${other.join(', ')}` : ''}`;
        })
        .join(' | ');
    out.push(
      `### Ingest samples (${i.records.toLocaleString('en-US')} records; ${i.date}; \`${i.command}\`)`,
      '',
      `Seconds of each run, in the order run (the median is quoted above)${i.loadavg ? `; load average ${i.loadavg[0].toFixed(1)} → ${i.loadavg[1].toFixed(1)}` : ''}:`,
      '',
      `- first ingest: ${samples(i.first)} — bare floor: ${samples(i.firstBare)} — same-schema floor: ${samples(i.firstSchema)}`,
      `- unchanged re-ingest: ${samples(i.unchanged)} — bare floor: ${samples(i.unchangedBare)} — same-schema floor: ${samples(i.unchangedSchema)}`,
      `- 10% changed re-ingest: ${samples(i.changed)} — bare floor: ${samples(i.changedBare)} — same-schema floor: ${samples(i.changedSchema)}`,
      `- pipeline peak RSS over the ${i.records.toLocaleString('en-US')}-record ingests: ${Math.round(i.firstPeakRssMB)} MB`,
      '',
      'Rows written (deltas of pg_stat_user_tables, per run; "other tables" = inserts + updates + deletes outside customers and the run records):',
      '',
      `- first ingest: ${w(i.firstWrites)}`,
      `- unchanged: ${w(i.unchangedWrites)}`,
      `- 10% changed: ${w(i.changedWrites)}`,
      '',
    );
  }
  if (i?.cpu) {
    const c = i.cpu;
    const pick = (runs: CpuSeconds[], secs: number[]) => {
      // the run whose time is the median
      const m = median(secs);
      const k = secs.findIndex((x) => x === m);
      return runs[k >= 0 ? k : 0];
    };
    const rows: [string, CpuSeconds | undefined][] = [
      ['first ingest', pick(c.first, i.first.seconds)],
      ['its bare floor', pick(c.firstBare, i.firstBare.seconds)],
      ['its same-schema floor', pick(c.firstSchema, i.firstSchema.seconds)],
      ['unchanged re-ingest', pick(c.unchanged, i.unchanged.seconds)],
      ['its bare floor', pick(c.unchangedBare, i.unchangedBare.seconds)],
      ['its same-schema floor', pick(c.unchangedSchema, i.unchangedSchema.seconds)],
      ['10% changed re-ingest', pick(c.changed, i.changed.seconds)],
      ['its bare floor', pick(c.changedBare, i.changedBare.seconds)],
      ['its same-schema floor', pick(c.changedSchema, i.changedSchema.seconds)],
    ];
    out.push(
      'CPU seconds by process during the median run (from /proc; "PostgreSQL, bench" = the sessions of the bench database,',
      '"autovacuum" = autovacuum workers, "PostgreSQL, other" = checkpointer, WAL writer and other databases\' sessions,',
      '"rest" = everything else on the machine):',
      '',
      '| run | wall s | pipeline | mock | PostgreSQL, bench | autovacuum | PostgreSQL, other | harness | rest |',
      '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
      ...rows
        .filter((r): r is [string, CpuSeconds] => r[1] !== undefined)
        .map(
          ([k, x]) =>
            `| ${k} | ${x.wall.toFixed(2)} | ${x.pipeline.toFixed(2)} | ${x.mock.toFixed(2)} | ${x.postgresBench.toFixed(2)} | ${(x.postgresAutovacuum ?? 0).toFixed(2)} | ${x.postgresOther.toFixed(2)} | ${x.harness.toFixed(2)} | ${x.elsewhere.toFixed(2)} |`,
        ),
      '',
    );
  }
  const rd0 = res.read;
  if (rd0) {
    const runs: [string, LoadResult][] = [
      ['ceiling (first)', rd0.ceiling[0]!],
      ['GET by id', rd0.byId],
      ['list page 1', rd0.list],
      ['deep page', rd0.deep],
      ['mock list limit=100', rd0.mockList],
      ['mock lookup', rd0.mockLookup],
      ['ceiling (last)', rd0.ceiling[1]!],
    ];
    const us = (s: number, r: LoadResult) => (r.requests > 0 ? String(Math.round((s / r.requests) * 1e6)) : 'n/a');
    if (runs.every(([, r]) => r?.cpu)) {
      out.push(
        'CPU microseconds per request, by process (the load generator is the harness):',
        '',
        '| route | req/s | pipeline | mock | PostgreSQL, bench | autovacuum | PostgreSQL, other | harness | rest |',
        '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
        ...runs.map(([k, r]) => {
          const x = r.cpu!;
          return `| ${k} | ${Math.round(r.reqPerSec)} | ${us(x.pipeline, r)} | ${us(x.mock, r)} | ${us(x.postgresBench, r)} | ${us(x.postgresAutovacuum ?? 0, r)} | ${us(x.postgresOther, r)} | ${us(x.harness, r)} | ${us(x.elsewhere, r)} |`;
        }),
        '',
      );
    }
  }
  if (res.read) {
    const la = res.read.loadavg ? `; load average ${res.read.loadavg[0].toFixed(1)} → ${res.read.loadavg[1].toFixed(1)}` : '';
    out.push(
      `Read API measured ${res.read.date} (\`${res.read.command}\`), ${res.read.connections} connections, ${res.read.duration} s per route after a warm-up${la}.`,
      '',
    );
  }
  if (res.rss) {
    out.push(
      `Peak RSS measured ${res.rss.date} (\`${res.rss.command}\`${res.rss.loadavg ? `; load average ${res.rss.loadavg[0].toFixed(1)} → ${res.rss.loadavg[1].toFixed(1)}` : ''}); the highest parts of \`process.memoryUsage()\` during each ingest (sampled every 50 ms):`,
      '',
      '| records | peak RSS MB | idle RSS MB | heapTotal MB | heapUsed MB | external MB | arrayBuffers MB | ingest s |',
      '| --- | --- | --- | --- | --- | --- | --- | --- |',
      ...res.rss.sizes.map(
        (s) =>
          `| ${s.records.toLocaleString('en-US')} | ${s.peakMB} | ${s.idleMB} | ${s.heapTotalMB ?? '—'} | ${s.heapUsedMB ?? '—'} | ${s.externalMB ?? '—'} | ${s.arrayBuffersMB ?? '—'} | ${s.seconds.toFixed(2)} |`,
      ),
      '',
    );
  }
  return out.join('\n');
}

function notes(res: Results): string {
  const out: string[] = [];
  const e = res.env;
  const share = (runs: CpuSeconds[]) => {
    const wall = runs.reduce((a, c) => a + c.wall, 0);
    return wall > 0 ? runs.reduce((a, c) => a + c.elsewhere, 0) / (e.cores * wall) : 0;
  };
  const ingestRuns = res.ingest?.cpu ? Object.values(res.ingest.cpu).flat() : [];
  const readRuns = res.read
    ? [...res.read.ceiling, res.read.byId, res.read.list, res.read.deep, res.read.mockList, res.read.mockLookup].flatMap((r) =>
        r.cpu ? [r.cpu] : [],
      )
    : [];
  const si = share(ingestRuns);
  const sr = share(readRuns);
  if (si > 0.1 || sr > 0.1) {
    out.push(
      `- Other work on this machine (not the benchmark's processes) used ${pct(si)} of its CPU during the ingest runs and ${pct(sr)} ` +
        'during the read runs ("rest" above): absolute figures are lower than a quiet machine gives; the ratios, measured in the same run, are less affected.',
    );
  }
  if (e.customersIndexes) {
    out.push(
      `- \`customers\` had ${e.customersIndexes.length} indexes (${e.customersIndexes.join(', ')}); the merge of the ingest and of the same-schema floor maintains every one; the bare floor's table has only its primary key.`,
    );
  }
  const rd = res.read;
  if (rd) {
    const failing = (
      [
        ['GET by id', rd.byId],
        ['list page 1', rd.list],
        ['deep page', rd.deep],
        ['mock list', rd.mockList],
        ['mock lookup', rd.mockLookup],
      ] as [string, LoadResult][]
    ).filter(([, r]) => r.errors || r.timeouts || r.non2xx);
    if (failing.length)
      out.push(`- Requests failed under load (autocannon's 10 s timeout, errors or non-2xx) on: ${failing.map(([k]) => k).join(', ')}.`);
  }
  if (res.ingest) {
    out.push(
      "- The floors' COPY text is made before their clocks start. An ingest also fetches the source's JSON from the mock over HTTP " +
        'on the same cores and turns it into COPY text — for well-formed records in one pass over the bytes (`page-scan.ts`), else through ' +
        'JSON.parse and the validator (the pipeline and mock columns of the CPU table); ' +
        'PostgreSQL classifies each chunk of rows against `customers` while the pipeline fetches the next pages, so the two overlap; ' +
        'the floors do their database work one step after the other.',
    );
  }
  if (rd?.mockList.cpu && rd.ceiling[0]?.cpu) {
    const per = (r: LoadResult) => (r.cpu!.harness * 1e6) / Math.max(1, r.requests);
    const best = rd.ceiling.reduce((a, b) => (b.reqPerSec > a.reqPerSec ? b : a));
    if (best.cpu) {
      out.push(
        `- The load generator (autocannon, the harness column) runs on the same cores: it spent ${per(rd.mockList).toFixed(0)} µs per mock list answer ` +
          `(about 25 KB each) against ${per(best).toFixed(0)} µs per ceiling answer; that difference is part of every ratio to the ceiling.`,
      );
    }
  }
  out.push(
    '- A target not reached stays in the table with its figure (**FAIL**); the profiling aids (`--phases`, `--profile`, `--heap-trace`,',
    '  `bench/diagnostics/explain-merge.ts`, `bench/diagnostics/explain-list.ts`) show where the time goes.',
  );
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
${e.settings ? `| Pipeline settings | ${e.settings} |\n` : ''}| Mock dataset | ${e.source} |
| Load average (1 min) | ${e.loadavg[0].toFixed(2)} at the start, ${e.loadavg[1].toFixed(2)} at the end |

## Reproduce

\`\`\`sh
npm run bench                      # 200,000 records: ingests, floors, read API, mock, and peak RSS of fresh pipeline processes at 100k and 1M (~6-7 min on 2 quiet cores)
npm run bench -- --rss-only        # only the RSS runs (printed; the file is left as it is)
npm run bench -- --records 1000000 # everything at 1M records (long: the merge of 1M rows alone takes minutes)
\`\`\`

Options: \`--repeat 3\` (timed runs per ingest measurement; the unchanged re-ingest and its floors run at least 5 times), \`--duration 10\`, \`--connections 32\`,
\`--warmup 2\` (autocannon, per route), \`--parts ingest,read,rss\`, \`--rss-sizes 100000,1000000\`,
\`--rss-repeat 1\`, \`--source generated|memory\` (what the mock serves), \`--tsx\` (run the servers
under tsx instead of compiled), \`--no-write\` (print only), \`--timeout-min\`. A run that leaves a part out
(\`--parts\`, \`--rss-only\`) prints its table and leaves this file as it is. Diagnostics, which skew the figures and so never write
this file: \`--phases\` (what the database sessions do during each ingest, from pg_stat_activity),
\`--profile\` (CPU profiles of both servers per measurement in \`bench/.profiles/\`, summarised by
\`npx tsx bench/diagnostics/profile-summary.ts <file>\`), \`--heap-trace\` (heap after a forced GC every 2 s of the
RSS ingests). \`npx tsx bench/diagnostics/explain-merge.ts\` and \`npx tsx bench/diagnostics/explain-list.ts\` print
EXPLAIN (ANALYZE, BUFFERS) of the merge and of the read queries; \`npx tsx bench/diagnostics/prepare-page.ts\` times
the page scan against JSON.parse and the validator, in one process. The database is \`DATABASE_URL\` if
set, else \`postgres://postgres@127.0.0.1:5432/postgres\`, else an embedded PostgreSQL; a fresh
\`bench_<random>\` database is created and dropped.

## Results

${renderTable(res)}

${details(res)}
## Notes

${notes(res)}

## How it is measured

- The mock server and the pipeline run in their own Node processes (\`bench/serve-mock.ts\`,
  \`bench/serve-pipeline.ts\`), built by the product's \`buildMockApp\` / \`buildPipelineApp\` with
  the production settings (\`loadConfig\`) and logger; the benchmark drives them over HTTP
  (\`POST /api/ingest\`, autocannon) from a third process.
- An ingest's time is the wall time of \`POST /api/ingest\` as the client sees it. The floors are
  PostgreSQL's own plain load of the same rows, what a user would write by hand: \`COPY\` into a
  temporary table, then one \`INSERT … ON CONFLICT (customer_id) DO UPDATE … WHERE (old) IS
  DISTINCT FROM (new)\`, in one transaction, with the ingest's \`work_mem\` and the same COPY text
  (made by \`stagingRow\` before the clock starts). The **bare floor** loads \`bare_customers\`, a
  table with only its primary key: the floor every ingest target is measured against. The
  **same-schema floor** loads \`customers\` itself, with its query indexes and triggers (info: it
  shows what the schema costs). Each is committed for the first ingest (its table emptied
  before), rolled back (untimed) for the re-ingests, so every floor runs on the same pre-state as
  the ingest it is compared to. The three run in a rotating order; each timed run (and each load run) waits up to 30 s for the machine to be quiet
  (under 25% of its CPU busy over 1 s: the machine may be shared) and starts after a
  \`CHECKPOINT\`; the median of the runs is quoted.
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

`;
}

/**
 * Rewrites the file, keeping the sections other tools own: any
 * `<!-- name:start --> … <!-- name:end -->` block of the current file (the
 * load run of `npm run bench:load`, for one) is carried over, at the end.
 */
export function writeMarkdown(file: string, res: Results): void {
  const current = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const kept = [...current.matchAll(/<!-- ([\w-]+):start -->[\s\S]*?<!-- \1:end -->/g)].map((m) => m[0]);
  writeFileSync(file, renderMarkdown(res) + (kept.length ? `\n${kept.join('\n\n')}\n` : ''));
}
