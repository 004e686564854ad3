// The stored customers: paged, searched (prefix of name or email) and sorted
// by the read API (`q`, `sort`, `page`, `limit`).
import { useEffect, useState } from 'preact/hooks';
import { getJson, type Customer, type Page } from './api';
import { balance, count, orDash } from './format';
import { Pager } from './pager';

const COLUMNS: { key: keyof Customer; label: string; sortable: boolean; num?: boolean }[] = [
  { key: 'customer_id', label: 'Customer', sortable: true },
  { key: 'first_name', label: 'First name', sortable: true },
  { key: 'last_name', label: 'Last name', sortable: true },
  { key: 'email', label: 'Email', sortable: true },
  { key: 'phone', label: 'Phone', sortable: false },
  { key: 'date_of_birth', label: 'Born', sortable: true },
  { key: 'account_balance', label: 'Balance', sortable: true, num: true },
  { key: 'created_at', label: 'Created', sortable: true },
];

function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}

export function CustomersView() {
  const [search, setSearch] = useState('');
  const q = useDebounced(search.trim(), 250);
  const [sort, setSort] = useState('customer_id');
  const [page, setPage] = useState(1);
  const [limit, setLimit] = useState(25);
  const [result, setResult] = useState<Page<Customer> | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => setPage(1), [q]);
  useEffect(() => {
    const ctl = new AbortController();
    const params = new URLSearchParams({ page: String(page), limit: String(limit) });
    if (q) params.set('q', q);
    if (sort !== 'customer_id') params.set('sort', sort);
    getJson<Page<Customer>>(`/api/customers?${params}`, ctl.signal).then(
      (r) => {
        setResult(r);
        setError(null);
      },
      (err: Error) => !ctl.signal.aborted && setError(err.message),
    );
    return () => ctl.abort();
  }, [q, sort, page, limit]);

  const toggle = (key: string) => {
    setSort((s) => (s === key ? `-${key}` : key));
    setPage(1);
  };
  const arrow = (key: string) => (sort === key ? ' ▲' : sort === `-${key}` ? ' ▼' : '');

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
      {result && (
        <>
          <table data-testid="customers-table">
            <thead>
              <tr>
                {COLUMNS.map((c) => (
                  <th key={c.key} class={c.num ? 'num' : ''}>
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
                <tr key={c.customer_id}>
                  <td class="mono">{c.customer_id}</td>
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
                    {q ? `No customer's name or email starts with “${q}”.` : 'No customers yet: run an ingest.'}
                  </td>
                </tr>
              )}
            </tbody>
          </table>
          <Pager
            page={page}
            limit={limit}
            total={result.total}
            onPage={setPage}
            onLimit={(l) => {
              setLimit(l);
              setPage(1);
            }}
          />
        </>
      )}
    </section>
  );
}
