// One run: its status, times, counts and error in full; while it runs, its
// live progress from the event stream; links to its rejected records; its
// change set as a diff (changes.tsx) and the revert (revert.tsx).
import { useEffect, useState } from 'preact/hooks';
import { ApiError, followRun, getJson, type Run, type RunProgress } from './api';
import { ChangeSet } from './changes';
import { count, duration } from './format';
import { RevertPanel } from './revert';
import { runHref } from './route';
import { Counts, ProgressView, RunTags, Status } from './runs';
import { Time } from './time';

/** The counts of a running run, as its progress has them so far. */
function withProgress(run: Run, p: RunProgress | null): Run {
  return p ? { ...run, pages: p.pages_done, fetched: p.records, rejected: p.rejected, retries: p.retries } : run;
}

export function RunView({ runId, params, atChanges }: { runId: number; params: URLSearchParams; atChanges: boolean }) {
  const [run, setRun] = useState<Run | null>(null);
  const [progress, setProgress] = useState<RunProgress | null>(null);
  const [error, setError] = useState<string | null>(null);
  // Bumped to read the record again (after a revert: its reverted_by).
  const [version, setVersion] = useState(0);

  useEffect(() => {
    const ctl = new AbortController();
    getJson<Run>(`/api/ingest/runs/${runId}`, ctl.signal).then(
      (r) => {
        setRun(r);
        setProgress(r.progress ?? null);
      },
      (err: Error) => !ctl.signal.aborted && setError(err.message),
    );
    return () => ctl.abort();
  }, [runId, version]);

  // A running run is followed until its final event, which holds its final record.
  const running = run?.status === 'running';
  useEffect(() => {
    if (!running) return;
    const ctl = new AbortController();
    followRun(
      runId,
      (e) => {
        if (e.type === 'progress') setProgress(e.progress);
        else {
          setRun(e.run);
          setProgress(null);
        }
      },
      ctl.signal,
    ).catch((err: unknown) => {
      if (!ctl.signal.aborted) setError(err instanceof ApiError ? err.message : String(err));
    });
    return () => ctl.abort();
  }, [runId, running]);

  const shown = run && (running ? withProgress(run, progress) : run);
  return (
    <>
      <RunPanel
        runId={runId}
        run={run}
        shown={shown}
        running={running}
        progress={progress}
        error={error}
        onReverted={() => setVersion((v) => v + 1)}
      />
      {shown && <ChangeSet run={shown} params={params} focus={atChanges} />}
    </>
  );
}

function RunPanel(props: {
  runId: number;
  run: Run | null;
  shown: Run | null;
  running: boolean;
  progress: RunProgress | null;
  error: string | null;
  onReverted: () => void;
}) {
  const { runId, run, shown, running, progress, error } = props;
  return (
    <section class="panel" data-testid="run-page">
      <div class="panel-head">
        <a href="#/runs" class="back">
          ← Runs
        </a>
        <h2>Run #{runId}</h2>
        {run && <Status status={run.status} />}
        {run && <RunTags run={run} />}
      </div>
      {error && <p class="error">{error}</p>}
      {!run && !error && <p class="muted">Loading…</p>}
      {shown && (
        <>
          {running && <ProgressView runId={runId} progress={progress} />}
          <dl class="facts">
            <div>
              <dt>Started</dt>
              <dd data-testid="run-started">
                <Time iso={shown.started_at} />
              </dd>
            </div>
            <div>
              <dt>Finished</dt>
              <dd data-testid="run-finished">{shown.finished_at ? <Time iso={shown.finished_at} /> : 'not yet'}</dd>
            </div>
            <div>
              <dt>Duration</dt>
              <dd data-testid="run-duration">
                {running ? `${duration((progress?.elapsed_seconds ?? 0) * 1000)} so far` : duration(shown.duration_ms)}
              </dd>
            </div>
            <div>
              <dt>Phases</dt>
              <dd data-testid="run-phases">
                {shown.reverts !== null
                  ? 'none: a revert reads no source, it applies a change set backwards'
                  : running
                    ? `${progress?.phase ?? shown.phase ?? 'fetching'} now`
                    : shown.fetch_ms === null
                      ? 'ended while fetching'
                      : `fetching ${duration(shown.fetch_ms)}, merging ${shown.merge_ms === null ? '(did not finish)' : duration(shown.merge_ms)}`}
              </dd>
            </div>
            <div>
              <dt>Source</dt>
              <dd class="mono">{shown.source_url}</dd>
            </div>
            {shown.reverts !== null && (
              <div>
                <dt>Reverts</dt>
                <dd data-testid="run-reverts">
                  <a href={runHref(shown.reverts)}>run #{shown.reverts}</a>
                </dd>
              </div>
            )}
            {shown.reverted_by !== null && (
              <div>
                <dt>Reverted by</dt>
                <dd data-testid="run-reverted-by">
                  <a href={runHref(shown.reverted_by)}>run #{shown.reverted_by}</a>
                </dd>
              </div>
            )}
          </dl>
          {shown.error && (
            <div class="run-error">
              <h3>Error</h3>
              <pre class="error" data-testid="run-error">
                {shown.error}
              </pre>
            </div>
          )}
          <Counts run={shown} testid="run" />
          <p>
            {shown.rejected > 0 ? (
              <a href={`#/runs/${runId}/rejected`} data-testid="run-rejected-link">
                See the {count(shown.rejected)} rejected record{shown.rejected === 1 ? '' : 's'}, with their reasons →
              </a>
            ) : (
              <span class="muted">{running ? 'No record rejected so far.' : 'This run rejected no record.'}</span>
            )}
          </p>
          <RevertPanel run={shown} onReverted={props.onReverted} />
        </>
      )}
    </section>
  );
}
