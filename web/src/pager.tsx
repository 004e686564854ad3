// Paging of a list the API pages with `page` and `limit`: previous/next,
// numbered pages around the current one (and the first and last), and a jump
// to any page.
import { useState } from 'preact/hooks';
import { count } from './format';

/** The page numbers to offer: the first, the last, and two either side of the current one; null for a gap. */
export function pageNumbers(page: number, pages: number): (number | null)[] {
  const shown = new Set([1, pages, page - 2, page - 1, page, page + 1, page + 2].filter((p) => p >= 1 && p <= pages));
  const sorted = [...shown].sort((a, b) => a - b);
  const out: (number | null)[] = [];
  for (const p of sorted) {
    const prev = out[out.length - 1];
    if (typeof prev === 'number' && p - prev === 2) out.push(p - 1);
    else if (typeof prev === 'number' && p - prev > 2) out.push(null);
    out.push(p);
  }
  return out;
}

function Jump({ pages, onPage }: { pages: number; onPage: (p: number) => void }) {
  const [text, setText] = useState('');
  const go = () => {
    const n = Number(text);
    if (Number.isInteger(n) && n >= 1 && n <= pages) {
      onPage(n);
      setText('');
    }
  };
  return (
    <form
      class="jump"
      onSubmit={(e) => {
        e.preventDefault();
        go();
      }}
    >
      <label>
        go to{' '}
        <input
          type="number"
          min={1}
          max={pages}
          inputMode="numeric"
          value={text}
          onInput={(e) => setText((e.target as HTMLInputElement).value)}
          aria-label="Go to page"
          data-testid="page-jump"
        />
      </label>
      <button type="submit" class="secondary" disabled={text === ''}>
        Go
      </button>
    </form>
  );
}

export function Pager(props: { page: number; limit: number; total: number; onPage: (p: number) => void; onLimit?: (l: number) => void }) {
  const { page, limit, total } = props;
  const pages = Math.max(1, Math.ceil(total / limit));
  const first = total === 0 ? 0 : (page - 1) * limit + 1;
  const last = Math.min(total, page * limit);
  return (
    <nav class="pager" data-testid="pager" aria-label="Pages">
      <span class="range">
        {count(first)}–{count(last)} of {count(total)} · page {count(page)} of {count(pages)}
      </span>
      {pages > 1 && (
        <span class="pages">
          <button
            type="button"
            class="secondary"
            disabled={page <= 1}
            onClick={() => props.onPage(page - 1)}
            data-testid="page-prev"
            aria-label="Previous page"
          >
            ←
          </button>
          {pageNumbers(page, pages).map((p, i) =>
            p === null ? (
              <span key={`gap${i}`} class="gap">
                …
              </span>
            ) : (
              <button
                type="button"
                key={p}
                class={p === page ? 'current' : 'secondary'}
                aria-current={p === page ? 'page' : undefined}
                onClick={() => props.onPage(p)}
                data-testid={`page-${p}`}
              >
                {count(p)}
              </button>
            ),
          )}
          <button
            type="button"
            class="secondary"
            disabled={page >= pages}
            onClick={() => props.onPage(page + 1)}
            data-testid="page-next"
            aria-label="Next page"
          >
            →
          </button>
        </span>
      )}
      {pages > 7 && <Jump pages={pages} onPage={props.onPage} />}
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
    </nav>
  );
}
