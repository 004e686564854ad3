// The runs view: the button that starts an ingest and follows it live,
// charts of the recent runs, and every run, paged.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, followRun, getJson, startIngest, type Page, type Run, type RunProgress } from './api';
import { RunCharts } from './charts';
import { count, duration, seconds } from './format';
import { Pager } from './pager';
import { changesHref, intParam, navigate, runHref, withParams } from './route';
import { Time } from './time';

type Live =
  | { phase: 'idle' }
  | { phase: 'starting' }
  | { phase: 'running'; runId: number; progress: RunProgress | null; note?: string }
  | { phase: 'ended'; run: Run }
  | { phase: 'error'; message: string };

export function Status({ status }: { status: Run['status'] }) {
  return <span class={`status ${status}`}>{status}</span>;
}

/** Small tags: a dry run, a revert (of which run), a run reverted. */
export function RunTags({ run }: { run: Run }) {
  return (
    <>
      {run.dry_run && (
        <span class="tag dry" title="A preview: nothing was written to customers" data-testid={`tag-dry-${run.id}`}>
          dry run
        </span>
      )}
      {run.reverts !== null && (
        <span class="tag reverts" title={`Reverts run #${run.reverts}`} data-testid={`tag-reverts-${run.id}`}>
          revert of #{run.reverts}
        </span>
      )}
      {run.reverted_by !== null && (
        <span class="tag reverted" title={`Reverted by run #${run.reverted_by}`} data-testid={`tag-reverted-${run.id}`}>
          reverted
        </span>
      )}
    </>
  );
}

export function ProgressView({ runId, progress, note }: { runId: number; progress: RunProgress | null; note?: string }) {
  const total = progress?.pages_total ?? null;
  const done = progress?.pages_done ?? 0;
  const merging = progress?.phase === 'merging';
  const pct = total ? Math.min(100, (done / total) * 100) : null;
  return (
    <div class="live" data-testid="ingest-progress">
      <div class="live-title">
        Run #{runId} <Status status="running" />
        {note && <span class="note">{note}</span>}
      </div>
      <div
        class={`bar${pct === null ? ' indeterminate' : ''}`}
        role="progressbar"
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={pct ?? undefined}
      >
        <div style={{ width: pct === null ? '30%' : `${pct}%` }} />
      </div>
      <div class="live-stats">
        <span>
          pages <b data-testid="progress-pages">{count(done)}</b>
          {total !== null && (
            <>
              {' '}
              of <b data-testid="progress-total">{count(total)}</b>
            </>
          )}
        </span>
        <span>
          <b data-testid="progress-records">{count(progress?.records ?? 0)}</b> records
        </span>
        <span>
          <b data-testid="progress-rate">{count(Math.round(progress?.records_per_second ?? 0))}</b> records/s
        </span>
        <span data-testid="progress-phase">{merging ? 'merging into customers' : 'fetching pages'}</span>
        <span data-testid="progress-eta">ETA {seconds(progress?.eta_seconds ?? null)}</span>
        {(progress?.rejected ?? 0) > 0 && <span>{count(progress!.rejected)} rejected so far</span>}
        {(progress?.retries ?? 0) > 0 && <span>{count(progress!.retries)} retries</span>}
      </div>
    </div>
  );
}

/** A run's counts, in the order of the pipeline's work. */
export function runCounts(run: Run): [string, number][] {
  return [
    ['pages', run.pages],
    ['fetched', run.fetched],
    ['inserted', run.inserted],
    ['updated', run.updated],
    ['unchanged', run.unchanged],
    ['deleted', run.deleted],
    ['rejected', run.rejected],
    ['retries', run.retries],
  ];
}

export function Counts({ run, testid, skip = [] }: { run: Run; testid: string; skip?: string[] }) {
  return (
    <dl class="counts">
      {runCounts(run)
        .filter(([name]) => !skip.includes(name))
        .map(([name, n]) => (
          <div key={name} data-testid={`${testid}-${name}`}>
            <dt>{name}</dt>
            <dd>{count(n)}</dd>
          </div>
        ))}
    </dl>
  );
}

function Outcome({ run }: { run: Run }) {
  return (
    <div class="live" data-testid="ingest-result">
      <div class="live-title">
        <a href={runHref(run.id)}>Run #{run.id}</a> <Status status={run.status} /> <span class="note">in {duration(run.duration_ms)}</span>
      </div>
      {run.error && <p class="error full-error">{run.error}</p>}
      {run.dry_run && <p class="note preview">Preview: nothing was written.</p>}
      <Counts run={run} testid="result" skip={['pages']} />
      <div class="links">
        {run.status === 'succeeded' && (
          <a href={changesHref(run.id)} data-testid="result-changes-link">
            See what it {run.dry_run ? 'would change' : 'changed'} →
          </a>
        )}
        {run.rejected > 0 && <a href={`#/runs/${run.id}/rejected`}>See the {count(run.rejected)} rejected records →</a>}
      </div>
    </div>
  );
}

type LiveRow = { runId: number; progress: RunProgress } | null;

function IngestPanel(props: { runningId: number | null; onChange: () => void; onLive: (live: LiveRow) => void }) {
  const { runningId, onChange, onLive } = props;
  const [live, setLive] = useState<Live>({ phase: 'idle' });
  const following = useRef<AbortController | null>(null);

  const follow = useCallback(
    (runId: number, note?: string) => {
      following.current?.abort();
      const ctl = new AbortController();
      following.current = ctl;
      setLive({ phase: 'running', runId, progress: null, note });
      followRun(
        runId,
        (e) => {
          if (e.type === 'progress') {
            setLive({ phase: 'running', runId, progress: e.progress, note });
            onLive({ runId, progress: e.progress });
          } else {
            setLive({ phase: 'ended', run: e.run });
            onLive(null);
            onChange();
          }
        },
        ctl.signal,
      ).catch((err: unknown) => {
        if (!ctl.signal.aborted) setLive({ phase: 'error', message: (err as Error).message });
      });
    },
    [onChange, onLive],
  );

  useEffect(() => () => following.current?.abort(), []);
  // A run already going on (started elsewhere, or before a reload) is followed too.
  useEffect(() => {
    if (runningId !== null && (live.phase === 'idle' || live.phase === 'ended')) {
      if (live.phase === 'ended' && live.run.id >= runningId) return;
      follow(runningId, 'started elsewhere');
    }
  }, [runningId]);

  // A dry run opens its page, at its change set, which follows it there.
  const start = async (dryRun: boolean) => {
    setLive({ phase: 'starting' });
    try {
      const runId = await startIngest({ dryRun });
      if (dryRun) return navigate(changesHref(runId));
      onChange();
      follow(runId);
    } catch (err) {
      if (err instanceof ApiError && err.status === 409 && typeof err.body.run_id === 'number') {
        follow(err.body.run_id, 'another ingest was already running: following it');
      } else setLive({ phase: 'error', message: (err as Error).message });
    }
  };

  const busy = live.phase === 'starting' || live.phase === 'running';
  return (
    <section class="panel">
      <div class="panel-head">
        <h2>Ingest</h2>
        <button type="button" onClick={() => start(false)} disabled={busy} data-testid="start-ingest">
          {busy ? 'Ingesting…' : 'Start ingest'}
        </button>
        <button
          type="button"
          class="secondary"
          onClick={() => start(true)}
          disabled={busy}
          data-testid="start-dry-run"
          title="The whole run, writing no customer"
        >
          Preview (dry run)
        </button>
      </div>
      {live.phase === 'idle' && (
        <p class="muted">
          Pulls every page of the source and merges it into the customers table, in one transaction. A preview does the whole run and writes
          nothing: it shows what the run would change.
        </p>
      )}
      {live.phase === 'starting' && <p class="muted">Starting…</p>}
      {live.phase === 'running' && <ProgressView runId={live.runId} progress={live.progress} note={live.note} />}
      {live.phase === 'ended' && <Outcome run={live.run} />}
      {live.phase === 'error' && (
        <p class="error" data-testid="ingest-error">
          {live.message}
        </p>
      )}
    </section>
  );
}

/** A running run's row shows the live counts of the run followed above. */
function withLive(run: Run, live: LiveRow): Run {
  if (run.status !== 'running' || live?.runId !== run.id) return run;
  const p = live.progress;
  return { ...run, pages: p.pages_done, fetched: p.records, rejected: p.rejected, retries: p.retries };
}

function RunsTable({ runs, live }: { runs: Run[]; live: LiveRow }) {
  const columns = 12;
  return (
    <div class="table-box">
      <table data-testid="runs-table" class="runs">
        <thead>
          <tr>
            <th>Run</th>
            <th>Status</th>
            <th>Started</th>
            <th class="num">Duration</th>
            <th class="num minor">Pages</th>
            <th class="num">Fetched</th>
            <th class="num">Inserted</th>
            <th class="num">Updated</th>
            <th class="num">Unchanged</th>
            <th class="num">Deleted</th>
            <th class="num">Rejected</th>
            <th class="num minor">Retries</th>
          </tr>
        </thead>
        {runs
          .map((run) => withLive(run, live))
          .map((r) => (
            // A body per run: its row, and the whole error under it when it failed.
            <tbody key={r.id} data-run={r.id}>
              <tr class={r.error ? 'has-error' : ''}>
                <td>
                  <a href={runHref(r.id)} data-testid={`run-link-${r.id}`}>
                    #{r.id}
                  </a>
                </td>
                <td class="status-cell">
                  <Status status={r.status} /> <RunTags run={r} />
                </td>
                <td class="when">
                  <Time iso={r.started_at} />
                </td>
                <td class="num">{duration(r.duration_ms)}</td>
                <td class="num minor">{count(r.pages)}</td>
                <td class="num">{count(r.fetched)}</td>
                <td class="num">{count(r.inserted)}</td>
                <td class="num">{count(r.updated)}</td>
                <td class="num">{count(r.unchanged)}</td>
                <td class="num">{count(r.deleted)}</td>
                <td class="num">
                  {r.rejected > 0 ? (
                    <a href={`#/runs/${r.id}/rejected`} data-testid={`rejected-link-${r.id}`}>
                      {count(r.rejected)}
                    </a>
                  ) : (
                    0
                  )}
                </td>
                <td class="num minor">{count(r.retries)}</td>
              </tr>
              {r.error && (
                <tr class="error-row">
                  <td colSpan={columns} class="error">
                    <div class="error-text" data-testid={`run-error-${r.id}`}>
                      {r.error}
                    </div>
                  </td>
                </tr>
              )}
            </tbody>
          ))}
      </table>
    </div>
  );
}

/** How many of the newest runs the charts show. */
const CHART_RUNS = 30;
const PAGE_SIZE = 20;

export function RunsView({ params }: { params: URLSearchParams }) {
  const page = intParam(params, 'page', 1);
  const [recent, setRecent] = useState<Page<Run> | null>(null);
  const [runs, setRuns] = useState<Page<Run> | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [live, setLive] = useState<LiveRow>(null);

  const load = useCallback(() => {
    Promise.all([
      getJson<Page<Run>>(`/api/ingest/runs?limit=${CHART_RUNS}`),
      getJson<Page<Run>>(`/api/ingest/runs?page=${page}&limit=${PAGE_SIZE}`),
    ]).then(
      ([r, p]) => {
        setRecent(r);
        setRuns(p);
        setError(null);
      },
      (err: Error) => setError(err.message),
    );
  }, [page]);
  useEffect(load, [load]);
  // While a run goes on (the newest ones hold it), the rows are refreshed.
  const running = recent?.data.find((r) => r.status === 'running')?.id ?? null;
  useEffect(() => {
    if (running === null) return;
    const t = setInterval(load, 3000);
    return () => clearInterval(t);
  }, [running, load]);

  return (
    <>
      <IngestPanel runningId={running} onChange={load} onLive={setLive} />
      {recent && recent.total > 0 && (
        <section class="panel">
          <div class="panel-head">
            <h2>Recent runs</h2>
            <span class="muted">the last {CHART_RUNS} at most, oldest left; a point or a bar opens its run</span>
          </div>
          <RunCharts runs={recent.data} />
        </section>
      )}
      <section class="panel">
        <div class="panel-head">
          <h2>Runs</h2>
          {runs && <span class="muted">{count(runs.total)} in all, newest first</span>}
          <button type="button" class="secondary" onClick={load}>
            Refresh
          </button>
        </div>
        {error && <p class="error">{error}</p>}
        {!runs && !error && <p class="muted">Loading…</p>}
        {runs && runs.total === 0 && <p class="muted">No runs yet: start one above.</p>}
        {runs && runs.total > 0 && (
          <>
            <RunsTable runs={runs.data} live={live} />
            <Pager
              page={page}
              limit={PAGE_SIZE}
              total={runs.total}
              onPage={(p) => navigate(withParams('#/runs', { page: p === 1 ? null : p }))}
            />
          </>
        )}
      </section>
    </>
  );
}
