// A run's change set on its page: every customer it inserted, updated or
// deleted, as a diff (GET /api/ingest/runs/:id/changes), paged and filtered by
// kind; the page and filter are in the address (#/runs/:id/changes?change=…).
import { useEffect, useRef, useState } from 'preact/hooks';
import { getJson, type ChangeKind, type ChangesPage, type Run } from './api';
import { ChangeTag, Diff } from './diff';
import { count } from './format';
import { Pager } from './pager';
import { changesHref, customerHref, intParam, navigate, withParams } from './route';
import { Time } from './time';

const PAGE_SIZE = 20;
const KINDS: { kind: ChangeKind | null; label: string; n: (r: Run) => number }[] = [
  { kind: null, label: 'All', n: (r) => r.inserted + r.updated + r.deleted },
  { kind: 'insert', label: 'Inserted', n: (r) => r.inserted },
  { kind: 'update', label: 'Updated', n: (r) => r.updated },
  { kind: 'delete', label: 'Deleted', n: (r) => r.deleted },
];

const kindParam = (params: URLSearchParams): ChangeKind | null => {
  const k = params.get('change');
  return k === 'insert' || k === 'update' || k === 'delete' ? k : null;
};

/** A checkbox that shows an update's unchanged fields too. */
export function AllFields({ all, onAll }: { all: boolean; onAll: (all: boolean) => void }) {
  return (
    <label class="all-fields">
      <input type="checkbox" checked={all} onChange={(e) => onAll((e.target as HTMLInputElement).checked)} data-testid="all-fields" />{' '}
      unchanged fields too
    </label>
  );
}

export function ChangeSet({ run, params, focus }: { run: Run; params: URLSearchParams; focus: boolean }) {
  const kind = kindParam(params);
  const page = intParam(params, 'page', 1);
  const [result, setResult] = useState<ChangesPage | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [all, setAll] = useState(false);
  const box = useRef<HTMLElement>(null);
  const ended = run.status !== 'running';

  useEffect(() => {
    if (!ended) return;
    const ctl = new AbortController();
    getJson<ChangesPage>(withParams(`/api/ingest/runs/${run.id}/changes`, { page, limit: PAGE_SIZE, change: kind }), ctl.signal).then(
      (r) => {
        setResult(r);
        setError(null);
      },
      (err: Error) => !ctl.signal.aborted && setError(err.message),
    );
    return () => ctl.abort();
  }, [run.id, ended, page, kind]);

  // Opened at #/runs/:id/changes: the page scrolls to the change set once it is there.
  const scrolled = useRef(false);
  useEffect(() => {
    if (focus && result && !scrolled.current && box.current) {
      scrolled.current = true;
      box.current.scrollIntoView({ block: 'start' });
    }
  }, [focus, result]);

  const go = (next: { change?: ChangeKind | null; page?: number }) => {
    const c = next.change === undefined ? kind : next.change;
    const p = next.page ?? 1;
    navigate(withParams(changesHref(run.id), { change: c, page: p === 1 ? null : p }));
    if (next.page !== undefined) box.current?.scrollIntoView({ block: 'start' });
  };

  return (
    <section class="panel" ref={box} data-testid="changes" id="changes">
      <div class="panel-head">
        <h2>{run.dry_run ? 'What it would change' : 'What it changed'}</h2>
        {ended && !run.changes_pruned_at && (
          <div class="filters" role="group" aria-label="Kind of change">
            {KINDS.map((k) => (
              <button
                type="button"
                key={k.label}
                class={k.kind === kind ? 'current' : 'secondary'}
                aria-pressed={k.kind === kind}
                onClick={() => go({ change: k.kind })}
                data-testid={`changes-filter-${k.kind ?? 'all'}`}
              >
                {k.label} {count(k.n(run))}
              </button>
            ))}
          </div>
        )}
        {ended && <AllFields all={all} onAll={setAll} />}
      </div>
      {run.dry_run && (
        <p class="note preview" data-testid="dry-run-note">
          <b>Preview: nothing was written.</b> A dry run: these are the changes the run would have made to customers.
        </p>
      )}
      {!ended && <p class="muted">The change set can be read once the run has ended.</p>}
      {ended && run.changes_pruned_at && (
        <p class="note" data-testid="changes-pruned">
          This run's change set was pruned on <Time iso={run.changes_pruned_at} /> (older than CHANGES_RETENTION_DAYS): its changes are no
          longer kept, and it can no longer be reverted.
        </p>
      )}
      {error && <p class="error">{error}</p>}
      {ended && !run.changes_pruned_at && result && result.total === 0 && (
        <p class="muted" data-testid="changes-none">
          {run.status === 'failed'
            ? 'A failed run changes nothing: its transaction was rolled back.'
            : kind
              ? `No ${kind} in this run.`
              : 'This run changed no customer.'}
        </p>
      )}
      {result && result.data.length > 0 && (
        <>
          <ul class="change-list">
            {result.data.map((c) => (
              <li key={c.customer_id} class="change" data-testid={`change-${c.customer_id}`} data-change={c.change}>
                <div class="change-head">
                  <a href={customerHref(c.customer_id)} class="mono">
                    {c.customer_id}
                  </a>
                  <ChangeTag change={c.change} />
                  {c.change === 'update' && <span class="muted">{c.fields.join(', ')}</span>}
                </div>
                <Diff change={c.change} fields={c.fields} before={c.before} after={c.after} all={all} />
              </li>
            ))}
          </ul>
          <Pager page={page} limit={PAGE_SIZE} total={result.total} onPage={(p) => go({ page: p })} />
        </>
      )}
    </section>
  );
}
