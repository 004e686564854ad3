// Where the CPU went during a measurement, from /proc: the pipeline, the
// mock, this process (the load generator / floor client), the PostgreSQL
// backends serving the pipeline, every other PostgreSQL process (checkpointer,
// WAL writer, other databases' sessions) and everything else on the machine.
// On a 2-core machine the processes of an ingest compete for the same cores,
// so this says which one a target is waiting for.
import { readdir, readFile } from 'node:fs/promises';
import type pg from 'pg';

const TICK_MS = 10; // USER_HZ is 100 on Linux

async function ticks(pid: number): Promise<{ ticks: number; comm: string } | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const f = stat.slice(close + 2).split(' ');
    // fields 14 and 15 (utime, stime) are at 11 and 12 after "pid (comm) "
    return { ticks: Number(f[11]) + Number(f[12]), comm };
  } catch {
    return null;
  }
}

async function machineBusyTicks(): Promise<number> {
  const first = (await readFile('/proc/stat', 'utf8')).split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq (steal, the hypervisor's, is not this machine's work)
  return first[0]! + first[1]! + first[2]! + first[5]! + first[6]!;
}

async function postgresPids(): Promise<number[]> {
  const out: number[] = [];
  for (const d of await readdir('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const t = await ticks(Number(d));
    if (t?.comm === 'postgres') out.push(Number(d));
  }
  return out;
}

type Snapshot = Map<number, number>;

async function snapshot(pids: number[]): Promise<Snapshot> {
  const m: Snapshot = new Map();
  for (const p of pids) {
    const t = await ticks(p);
    if (t) m.set(p, t.ticks);
  }
  return m;
}

export interface CpuSeconds {
  pipeline: number;
  mock: number;
  harness: number;
  postgresBench: number;
  /** Autovacuum workers started during the window (any database). */
  postgresAutovacuum?: number;
  postgresOther: number;
  elsewhere: number;
  wall: number;
}

/**
 * Starts an account; `stop()` gives CPU seconds per party. "PostgreSQL for
 * the bench" is every session of `dbName` (the pipeline's during an ingest,
 * the harness's during a floor). PostgreSQL processes are sampled every
 * 250 ms, so that short-lived ones (autovacuum workers, parallel workers)
 * are counted as PostgreSQL, not as the rest of the machine; those that
 * start inside the window count from zero.
 */
export async function cpuAccount(
  pool: pg.Pool,
  dbName: string,
  pids: { pipeline?: number; mock?: number },
): Promise<{ stop(): Promise<CpuSeconds> }> {
  const own = [process.pid, pids.pipeline, pids.mock].filter((p): p is number => p !== undefined);
  const before = await snapshot([...own, ...(await postgresPids())]);
  const lastSeen = new Map(before);
  const autovacuum = new Set<number>();
  const busy0 = await machineBusyTicks();
  const t0 = performance.now();
  let sampling = Promise.resolve();
  // Cheap enough not to compete with what it measures: one readdir per tick;
  // a process's stat is read once to learn what it is, then only PostgreSQL's.
  const known = new Set<number>(before.keys());
  const isPostgres = new Set<number>([...before.keys()].filter((p) => !own.includes(p)));
  const sample = async () => {
    for (const d of await readdir('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      const p = Number(d);
      if (known.has(p) && !isPostgres.has(p)) continue;
      const t = await ticks(p);
      if (!known.has(p)) {
        known.add(p);
        if (t?.comm !== 'postgres') continue;
        isPostgres.add(p);
        const cmd = await readFile(`/proc/${p}/cmdline`, 'utf8').catch(() => '');
        if (cmd.includes('autovacuum worker')) autovacuum.add(p);
      }
      if (t) lastSeen.set(p, t.ticks);
    }
  };
  const timer = setInterval(() => {
    sampling = sampling.then(sample, () => {});
  }, 500);
  return {
    async stop() {
      clearInterval(timer);
      await sampling;
      const wall = (performance.now() - t0) / 1000;
      const busy1 = await machineBusyTicks();
      const { rows } = await pool.query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend'`,
        [dbName],
      );
      const benchBackends = new Set(rows.map((r) => r.pid));
      await sample();
      for (const p of own) {
        const t = await ticks(p);
        if (t) lastSeen.set(p, t.ticks);
      }
      const delta = (pid: number) => ((lastSeen.get(pid) ?? 0) - (before.get(pid) ?? 0)) * (TICK_MS / 1000);
      const sum = (ps: number[]) => ps.reduce((a, p) => a + delta(p), 0);
      const pgAll = [...lastSeen.keys()].filter((p) => !own.includes(p));
      const res = {
        pipeline: pids.pipeline ? delta(pids.pipeline) : 0,
        mock: pids.mock ? delta(pids.mock) : 0,
        harness: delta(process.pid),
        postgresBench: sum(pgAll.filter((p) => benchBackends.has(p))),
        postgresAutovacuum: sum(pgAll.filter((p) => autovacuum.has(p))),
        postgresOther: sum(pgAll.filter((p) => !benchBackends.has(p) && !autovacuum.has(p))),
        elsewhere: 0,
        wall,
      };
      const machine = (busy1 - busy0) * (TICK_MS / 1000);
      res.elsewhere = Math.max(
        0,
        machine - res.pipeline - res.mock - res.harness - res.postgresBench - res.postgresAutovacuum - res.postgresOther,
      );
      return res;
    },
  };
}

export function formatCpu(c: CpuSeconds, per?: { count: number; unit: string }): string {
  const parts: [string, number][] = [
    ['pipeline', c.pipeline],
    ['mock', c.mock],
    ['PostgreSQL (bench database sessions)', c.postgresBench],
    ['PostgreSQL (autovacuum)', c.postgresAutovacuum ?? 0],
    ['PostgreSQL (other processes)', c.postgresOther],
    ['harness', c.harness],
    ['rest of machine', c.elsewhere],
  ];
  if (per) {
    if (per.count === 0) return 'n/a (no request completed)';
    return parts
      .filter(([, s]) => s > 0)
      .map(([k, s]) => `${k} ${Math.round((s / per.count) * 1e6)} ${per.unit}`)
      .join(', ');
  }
  return (
    parts
      .filter(([, s]) => s > 0)
      .map(([k, s]) => `${k} ${s.toFixed(2)}`)
      .join(', ') + ` (CPU-s over ${c.wall.toFixed(2)} s wall)`
  );
}

/**
 * Waits (at most `maxMs`) until the machine is quiet: less than `share` of
 * its CPU busy over a 1 s window. The machine may be shared (other builds,
 * other test suites on the same PostgreSQL server); a timed run started in
 * the middle of someone else's burst measures the burst. Returns the busy
 * share last seen, so that a run that had to start anyway can say so.
 */
export async function waitForQuiet(cores: number, share = 0.25, maxMs = 30_000): Promise<number> {
  const deadline = Date.now() + maxMs;
  for (;;) {
    const b0 = await machineBusyTicks();
    await new Promise((r) => setTimeout(r, 1000));
    const busy = ((await machineBusyTicks()) - b0) / 100 / cores;
    if (busy < share || Date.now() > deadline) return busy;
  }
}
