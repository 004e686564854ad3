// The stored customers: paged, searched (prefix of name or email) and sorted
// by the read API (`q`, `sort`, `page`, `limit`). The list's state is in the
// hash (#/customers?q=…&sort=…&page=…), so Back from a customer's page
// returns to the same page of the list.
import { useEffect, useRef, useState } from 'preact/hooks';
import { getJson, type Customer, type Page } from './api';
import { balance, count, orDash } from './format';
import { Pager } from './pager';
import { customerHref, intParam, navigate, withParams } from './route';

// `sortable` as the read API allows (SORT_COLUMNS in src/core/db/customer-query.ts: not phone);
// `nullable`: the column can be NULL, which the API sorts first when descending.
const COLUMNS: { key: keyof Customer; label: string; sortable: boolean; nullable?: boolean; num?: boolean }[] = [
  { key: 'customer_id', label: 'Customer', sortable: true },
  { key: 'first_name', label: 'First name', sortable: true },
  { key: 'last_name', label: 'Last name', sortable: true },
  { key: 'email', label: 'Email', sortable: true },
  { key: 'phone', label: 'Phone', sortable: false },
  { key: 'date_of_birth', label: 'Born', sortable: true, nullable: true },
  { key: 'account_balance', label: 'Balance', sortable: true, nullable: true, num: true },
  { key: 'created_at', label: 'Created', sortable: true, nullable: true },
];

const DEFAULT_SORT = 'customer_id';
const DEFAULT_LIMIT = 25;
const LIMITS = [10, 25, 50, 100];

/** The hash of the list last shown, for the customer page's way back. */
export let listHash = '#/customers';

function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}

function hashOf(state: { q: string; sort: string; page: number; limit: number }): string {
  return withParams('#/customers', {
    q: state.q,
    sort: state.sort === DEFAULT_SORT ? null : state.sort,
    page: state.page === 1 ? null : state.page,
    limit: state.limit === DEFAULT_LIMIT ? null : state.limit,
  });
}

function parseSort(value: string | null): string {
  const column = value?.replace(/^-/, '');
  return value && COLUMNS.some((c) => c.sortable && c.key === column) ? value : DEFAULT_SORT;
}

export function CustomersView({ params }: { params: URLSearchParams }) {
  const q = (params.get('q') ?? '').trim();
  const sort = parseSort(params.get('sort'));
  const page = intParam(params, 'page', 1);
  const limitParam = intParam(params, 'limit', DEFAULT_LIMIT);
  const limit = LIMITS.includes(limitParam) ? limitParam : DEFAULT_LIMIT;
  const state = { q, sort, page, limit };
  const go = (change: Partial<typeof state>, replace = false) => navigate(hashOf({ ...state, ...change }), replace);
  listHash = hashOf(state);

  // The search box: typed freely, sent when typing pauses (replacing the history entry, not adding one per key).
  const [search, setSearch] = useState(q);
  const sent = useRef(q);
  const typed = useDebounced(search.trim(), 250);
  useEffect(() => {
    if (typed === sent.current) return;
    sent.current = typed;
    go({ q: typed, page: 1 }, true);
  }, [typed]);
  // Back/forward to another search shows it in the box.
  useEffect(() => {
    if (q !== sent.current) {
      sent.current = q;
      setSearch(q);
    }
  }, [q]);

  const [result, setResult] = useState<Page<Customer> | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const ctl = new AbortController();
    const query = new URLSearchParams({ page: String(page), limit: String(limit) });
    if (q) query.set('q', q);
    if (sort !== DEFAULT_SORT) query.set('sort', sort);
    getJson<Page<Customer>>(`/api/customers?${query}`, ctl.signal).then(
      (r) => {
        setResult(r);
        setError(null);
      },
      (err: Error) => !ctl.signal.aborted && setError(err.message),
    );
    return () => ctl.abort();
  }, [q, sort, page, limit]);

  const toggle = (key: string) => go({ sort: sort === key ? `-${key}` : key, page: 1 });
  const ariaSort = (key: string) => (sort === key ? 'ascending' : sort === `-${key}` ? 'descending' : undefined);
  const arrow = (key: string) => (sort === key ? ' ▲' : sort === `-${key}` ? ' ▼' : '');
  const nullsFirst = COLUMNS.find((c) => c.nullable && sort === `-${c.key}`);

  const open = (e: MouseEvent, id: string) => {
    // A click on the link itself navigates already; a drag to select text is not a click on the row.
    if ((e.target as Element).closest('a') || getSelection()?.toString()) return;
    navigate(customerHref(id));
  };

  return (
    <section class="panel">
      <div class="panel-head">
        <h2>Customers</h2>
        {result && (
          <span class="muted" data-testid="customers-total">
            {count(result.total)} {q ? 'matching' : 'stored'}
          </span>
        )}
        <span class="spacer" />
        <input
          type="search"
          placeholder="Search first name, last name or email…"
          value={search}
          onInput={(e) => setSearch((e.target as HTMLInputElement).value)}
          data-testid="customer-search"
          aria-label="Search customers"
        />
      </div>
      {error && <p class="error">{error}</p>}
      {nullsFirst && (
        <p class="note" data-testid="nulls-first-note">
          Customers without a {nullsFirst.label.toLowerCase()} value come first in this descending sort: the read API sorts NULLs as
          PostgreSQL does (last ascending, first descending), which is the order its index is read in.
        </p>
      )}
      {result && (
        <>
          <div class="table-box">
            <table data-testid="customers-table" class="customers">
              <thead>
                <tr>
                  {COLUMNS.map((c) => (
                    <th
                      key={c.key}
                      class={`${c.num ? 'num' : ''}${c.sortable ? ' sortable' : ''}`}
                      aria-sort={c.sortable ? ariaSort(c.key) : undefined}
                      title={c.sortable ? undefined : 'The read API does not sort by this column'}
                      data-testid={`th-${c.key}`}
                    >
                      {c.sortable ? (
                        <button type="button" class="sort" onClick={() => toggle(c.key)} data-testid={`sort-${c.key}`}>
                          {c.label}
                          {arrow(c.key)}
                        </button>
                      ) : (
                        c.label
                      )}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {result.data.map((c) => (
                  <tr key={c.customer_id} class="clickable" onClick={(e) => open(e, c.customer_id)}>
                    <td class="mono">
                      <a href={customerHref(c.customer_id)} data-testid={`customer-link-${c.customer_id}`}>
                        {c.customer_id}
                      </a>
                    </td>
                    <td>{c.first_name}</td>
                    <td>{c.last_name}</td>
                    <td>{c.email}</td>
                    <td>{orDash(c.phone)}</td>
                    <td>{orDash(c.date_of_birth)}</td>
                    <td class="num">{balance(c.account_balance)}</td>
                    <td>{orDash(c.created_at?.replace('T', ' ') ?? null)}</td>
                  </tr>
                ))}
                {result.data.length === 0 && (
                  <tr>
                    <td colSpan={COLUMNS.length} class="muted">
                      {q
                        ? `No customer's name or email starts with “${q}”.`
                        : result.total
                          ? 'No customers on this page.'
                          : 'No customers yet: run an ingest.'}
                    </td>
                  </tr>
                )}
              </tbody>
            </table>
          </div>
          <Pager
            page={page}
            limit={limit}
            total={result.total}
            onPage={(p) => go({ page: p })}
            onLimit={(l) => go({ limit: l, page: 1 })}
          />
        </>
      )}
    </section>
  );
}
