// "Revert this run…" on a run's page: a dialog says what the revert will do
// before it is sent (POST /api/ingest/runs/:id/revert), then the new run, or
// the refusal (409) in words: for a conflict, the customers and the runs to
// revert first, newest first.
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, revertRun, type RevertResult, type Run } from './api';
import { count } from './format';
import { customerHref, runHref } from './route';
import { Time } from './time';

/** Why the run cannot be reverted, as its record says; null when it can. */
function whyNot(run: Run) {
  if (run.status === 'running') return <>The run is still going on.</>;
  if (run.status === 'failed') return <>A failed run changed nothing (its transaction was rolled back): there is nothing to revert.</>;
  if (run.dry_run) return <>A dry run wrote nothing: there is nothing to revert.</>;
  if (run.reverted_by !== null)
    return (
      <>
        Already reverted by <a href={runHref(run.reverted_by)}>run #{run.reverted_by}</a>.
      </>
    );
  if (run.changes_pruned_at)
    return (
      <>
        Its change set was pruned on <Time iso={run.changes_pruned_at} /> (CHANGES_RETENTION_DAYS): it can no longer be reverted.
      </>
    );
  if (run.inserted + run.updated + run.deleted === 0) return <>This run changed no customer: there is nothing to revert.</>;
  return null;
}

const plural = (n: number, one: string, many = `${one}s`) => `${count(n)} ${n === 1 ? one : many}`;

/** What a revert did, in words, the zero counts left out. */
function undone(r: RevertResult): string {
  const parts = [
    r.updated > 0 && `${plural(r.updated, 'customer')} back to ${r.updated === 1 ? 'its' : 'their'} values before`,
    r.deleted > 0 && `${plural(r.deleted, 'inserted customer')} deleted`,
    r.inserted > 0 && `${plural(r.inserted, 'deleted customer')} back`,
  ].filter(Boolean);
  return parts.length ? parts.join(', ') : 'no customer to put back';
}

type State =
  | { phase: 'idle' }
  | { phase: 'sending' }
  | { phase: 'done'; result: RevertResult }
  | { phase: 'refused'; error: ApiError }
  | { phase: 'error'; message: string };

function Refusal({ error }: { error: ApiError }) {
  const b = error.body;
  if (b.reason === 'conflict') {
    const runs = ((b.runs as number[] | undefined) ?? []).slice().sort((x, y) => y - x);
    const conflicts = (b.conflicts as { customer_id: string; run_id: number }[] | undefined) ?? [];
    const total = typeof b.conflicts_total === 'number' ? b.conflicts_total : conflicts.length;
    return (
      <div class="refusal" data-testid="revert-refused" data-reason="conflict">
        <p>
          <b>Refused:</b> later runs changed {plural(total, 'customer')} this run changed, so reverting it would undo their changes too.
          Revert {runs.length === 1 ? 'that run' : 'those runs'} first, newest first:{' '}
          {runs.map((id, i) => (
            <span key={id}>
              {i > 0 && ', '}
              <a href={runHref(id)} data-testid={`revert-first-${id}`}>
                run #{id}
              </a>
            </span>
          ))}
          .
        </p>
        <ul class="conflicts" data-testid="revert-conflicts">
          {conflicts.map((c) => (
            <li key={c.customer_id}>
              <a href={customerHref(c.customer_id)} class="mono">
                {c.customer_id}
              </a>{' '}
              last changed by <a href={runHref(c.run_id)}>run #{c.run_id}</a>
            </li>
          ))}
          {total > conflicts.length && <li class="muted">and {plural(total - conflicts.length, 'more customer')}</li>}
        </ul>
      </div>
    );
  }
  let words: string;
  if (b.reason === 'already_reverted' && typeof b.reverted_by === 'number')
    words = `this run is already reverted, by run #${b.reverted_by}.`;
  else if (b.reason === undefined && typeof b.run_id === 'number')
    words = `another ingest is running (run #${b.run_id}): try again once it has ended.`;
  else words = error.message;
  return (
    <p class="refusal" data-testid="revert-refused" data-reason={typeof b.reason === 'string' ? b.reason : String(error.status)}>
      <b>Refused:</b> {words}
    </p>
  );
}

export function RevertPanel({ run, onReverted }: { run: Run; onReverted: () => void }) {
  const [state, setState] = useState<State>({ phase: 'idle' });
  const dialog = useRef<HTMLDialogElement>(null);
  const [open, setOpen] = useState(false);
  useEffect(() => {
    const d = dialog.current;
    if (!d) return;
    if (open && !d.open) d.showModal();
    if (!open && d.open) d.close();
  }, [open]);

  const send = async () => {
    setOpen(false);
    setState({ phase: 'sending' });
    try {
      const result = await revertRun(run.id);
      setState({ phase: 'done', result });
      onReverted();
    } catch (err) {
      if (err instanceof ApiError && err.status === 409) setState({ phase: 'refused', error: err });
      else setState({ phase: 'error', message: (err as Error).message });
    }
  };

  if (run.status === 'running') return null;
  const reason = state.phase === 'done' ? null : whyNot(run);
  return (
    <div class="revert" data-testid="revert">
      {state.phase !== 'done' && (
        <button
          type="button"
          class="danger"
          onClick={() => setOpen(true)}
          disabled={reason !== null || state.phase === 'sending'}
          data-testid="revert-button"
        >
          {state.phase === 'sending' ? 'Reverting…' : 'Revert this run…'}
        </button>
      )}
      {reason && (
        <span class="muted" data-testid="revert-why-not">
          {reason}
        </span>
      )}
      {state.phase === 'done' && (
        <p class="ok" data-testid="revert-done">
          Reverted by{' '}
          <a href={runHref(state.result.run_id)} data-testid="revert-run-link">
            run #{state.result.run_id}
          </a>
          : {undone(state.result)}.
        </p>
      )}
      {state.phase === 'refused' && <Refusal error={state.error} />}
      {state.phase === 'error' && <p class="error">{state.message}</p>}
      <dialog ref={dialog} class="confirm" data-testid="revert-dialog" onClose={() => setOpen(false)} aria-labelledby="revert-title">
        <h3 id="revert-title">Revert run #{run.id}?</h3>
        <p>Every customer this run changed is put back as it was before it:</p>
        <ul>
          <li>
            {plural(run.updated, 'updated customer')} {run.updated === 1 ? 'gets its' : 'get their'} values from before the run back,
          </li>
          <li>
            {plural(run.inserted, 'inserted customer')} {run.inserted === 1 ? 'is' : 'are'} deleted,
          </li>
          <li>
            {plural(run.deleted, 'deleted customer')} {run.deleted === 1 ? 'comes' : 'come'} back.
          </li>
        </ul>
        <p>
          The revert is <b>a run of its own</b>, in one transaction, with its own change set (so it can be reverted in turn); run #{run.id}{' '}
          stays in the list, marked reverted. It is refused if a later run changed any of the same customers.
        </p>
        <div class="actions">
          <button type="button" class="secondary" onClick={() => setOpen(false)} data-testid="revert-cancel">
            Cancel
          </button>
          <button type="button" class="danger" onClick={send} data-testid="revert-confirm">
            Revert run #{run.id}
          </button>
        </div>
      </dialog>
    </div>
  );
}
