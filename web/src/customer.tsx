// One customer: every field (GET /api/customers/:id), and its history: each
// run that inserted, changed or deleted it, newest first, as a diff
// (GET /api/customers/:id/history). A deleted customer (404, but a history)
// shows its history, with the run that deleted it.
import { useEffect, useState } from 'preact/hooks';
import { ApiError, getJson, type Customer, type HistoryEntry, type Page } from './api';
import { AllFields } from './changes';
import { listHash } from './customers';
import { ChangeTag, Diff, FIELDS, fieldValue } from './diff';
import { count } from './format';
import { Pager } from './pager';
import { runHref } from './route';
import { Time } from './time';

const HISTORY_PAGE = 10;

function History({
  customerId,
  history,
  page,
  onPage,
}: {
  customerId: string;
  history: Page<HistoryEntry>;
  page: number;
  onPage: (p: number) => void;
}) {
  const [all, setAll] = useState(false);
  return (
    <section class="panel" data-testid="history">
      <div class="panel-head">
        <h2>History</h2>
        <span class="muted">
          {count(history.total)} run{history.total === 1 ? '' : 's'} changed {customerId}, newest first
        </span>
        <AllFields all={all} onAll={setAll} />
      </div>
      {history.total === 0 && <p class="muted">No run in the change log changed it (older change sets are pruned).</p>}
      <ul class="change-list">
        {history.data.map((h) => (
          <li key={h.run_id} class="change" data-testid={`history-${h.run_id}`} data-change={h.change}>
            <div class="change-head">
              <a href={runHref(h.run_id)} data-testid={`history-run-${h.run_id}`}>
                Run #{h.run_id}
              </a>
              <ChangeTag change={h.change} />
              <span class="muted">
                <Time iso={h.at} />
              </span>
              {h.change === 'update' && <span class="muted">{h.fields.join(', ')}</span>}
            </div>
            <Diff change={h.change} fields={h.fields} before={h.before} after={h.after} all={all} />
          </li>
        ))}
      </ul>
      {history.total > HISTORY_PAGE && <Pager page={page} limit={HISTORY_PAGE} total={history.total} onPage={onPage} />}
    </section>
  );
}

type Loaded<T> = T | 'missing' | null;

export function CustomerView({ customerId }: { customerId: string }) {
  const [customer, setCustomer] = useState<Loaded<Customer>>(null);
  const [history, setHistory] = useState<Loaded<Page<HistoryEntry>>>(null);
  // The newest entry of the history: a delete when the customer is gone.
  const [latest, setLatest] = useState<HistoryEntry | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [page, setPage] = useState(1);
  const path = `/api/customers/${encodeURIComponent(customerId)}`;

  const fail = (ctl: AbortController, onMissing: () => void) => (err: Error) => {
    if (ctl.signal.aborted) return;
    if (err instanceof ApiError && err.status === 404) onMissing();
    else setError(err.message);
  };
  useEffect(() => {
    const ctl = new AbortController();
    getJson<Customer>(path, ctl.signal).then(
      setCustomer,
      fail(ctl, () => setCustomer('missing')),
    );
    return () => ctl.abort();
  }, [path]);
  useEffect(() => {
    const ctl = new AbortController();
    getJson<Page<HistoryEntry>>(`${path}/history?page=${page}&limit=${HISTORY_PAGE}`, ctl.signal).then(
      (h) => {
        setHistory(h);
        if (page === 1) setLatest(h.data[0] ?? null);
      },
      fail(ctl, () => setHistory('missing')),
    );
    return () => ctl.abort();
  }, [path, page]);

  const deletedBy = customer === 'missing' && latest?.change === 'delete' ? latest : null;
  const shown = customer !== 'missing' && customer !== null ? customer : (deletedBy?.before ?? null);
  const loading = !error && (customer === null || history === null);

  return (
    <>
      <section class="panel" data-testid="customer-page">
        <div class="panel-head">
          <a href={listHash} class="back">
            ← Customers
          </a>
          <h2>
            {shown ? `${shown.first_name} ${shown.last_name}` : 'Customer'} <span class="mono muted">{customerId}</span>
          </h2>
          {deletedBy && <span class="tag change-delete">deleted</span>}
        </div>
        {error && <p class="error">{error}</p>}
        {loading && <p class="muted">Loading…</p>}
        {deletedBy && (
          <p class="note" data-testid="deleted-note">
            Deleted by{' '}
            <a href={runHref(deletedBy.run_id)} data-testid="deleted-by-link">
              run #{deletedBy.run_id}
            </a>{' '}
            on <Time iso={deletedBy.at} />: it is no longer stored. Its values when it was deleted:
          </p>
        )}
        {customer === 'missing' && history === 'missing' && (
          <p class="error" data-testid="customer-not-found">
            No customer {customerId} was ever stored (or it was deleted, and its history is past retention).
          </p>
        )}
        {customer === 'missing' && history !== 'missing' && history !== null && !deletedBy && <p class="note">Not stored now.</p>}
        {shown && (
          <dl class="facts fields">
            {FIELDS.map((f) => {
              const value = fieldValue(shown, f.key);
              return (
                <div key={f.key} data-testid={`field-${f.key}`}>
                  <dt>{f.label}</dt>
                  <dd class={value === null ? 'muted' : ''}>{value ?? 'none'}</dd>
                </div>
              );
            })}
          </dl>
        )}
      </section>
      {history !== null && history !== 'missing' && <History customerId={customerId} history={history} page={page} onPage={setPage} />}
    </>
  );
}
