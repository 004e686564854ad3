import { count } from './format';

export function Pager(props: { page: number; limit: number; total: number; onPage: (p: number) => void; onLimit?: (l: number) => void }) {
  const { page, limit, total } = props;
  const pages = Math.max(1, Math.ceil(total / limit));
  const first = total === 0 ? 0 : (page - 1) * limit + 1;
  const last = Math.min(total, page * limit);
  return (
    <div class="pager" data-testid="pager">
      <button type="button" class="secondary" disabled={page <= 1} onClick={() => props.onPage(page - 1)} data-testid="page-prev">
        ← Previous
      </button>
      <span>
        {count(first)}–{count(last)} of {count(total)} · page {count(page)} of {count(pages)}
      </span>
      <button type="button" class="secondary" disabled={page >= pages} onClick={() => props.onPage(page + 1)} data-testid="page-next">
        Next →
      </button>
      {props.onLimit && (
        <label>
          per page{' '}
          <select value={limit} onChange={(e) => props.onLimit!(Number((e.target as HTMLSelectElement).value))}>
            {[10, 25, 50, 100].map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </label>
      )}
    </div>
  );
}
