// Hash routes: #/runs, #/runs/:id (#/runs/:id/changes: the same page, at its
// change set), #/runs/:id/rejected, #/customers, #/customers/:id. A list's
// state (page, search, sort, a change set's filter) is in the hash's query, so
// Back from a detail page returns to the same page of the list.
import { useEffect, useState } from 'preact/hooks';

export type Route =
  | { view: 'runs'; params: URLSearchParams }
  | { view: 'run'; runId: number; params: URLSearchParams; atChanges: boolean }
  | { view: 'rejected'; runId: number }
  | { view: 'customers'; params: URLSearchParams }
  | { view: 'customer'; customerId: string };

export function parseRoute(hash: string): Route {
  const [path = '', query = ''] = hash.replace(/^#/, '').split('?', 2);
  const params = new URLSearchParams(query);
  let m: RegExpExecArray | null;
  if ((m = /^\/runs\/(\d+)\/rejected$/.exec(path))) return { view: 'rejected', runId: Number(m[1]) };
  if ((m = /^\/runs\/(\d+)(\/changes)?$/.exec(path))) return { view: 'run', runId: Number(m[1]), params, atChanges: m[2] !== undefined };
  if ((m = /^\/customers\/(.+)$/.exec(path))) {
    let customerId: string;
    try {
      customerId = decodeURIComponent(m[1]!);
    } catch {
      customerId = m[1]!;
    }
    return { view: 'customer', customerId };
  }
  if (path === '/customers') return { view: 'customers', params };
  return { view: 'runs', params };
}

export const customerHref = (id: string): string => `#/customers/${encodeURIComponent(id)}`;
export const runHref = (id: number): string => `#/runs/${id}`;
export const changesHref = (id: number): string => `#/runs/${id}/changes`;

/** A path with the non-default parameters as its query. */
export function withParams(path: string, params: Record<string, string | number | null | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== '') q.set(k, String(v));
  const text = q.toString();
  return text ? `${path}?${text}` : path;
}

/** Goes to a hash route; `replace` keeps the history entry (as for each key typed in a search). */
export function navigate(hash: string, replace = false): void {
  if (location.hash === hash) return;
  if (replace) location.replace(hash);
  else location.hash = hash;
}

/** A positive integer parameter, or the default. */
export function intParam(params: URLSearchParams, name: string, fallback: number): number {
  const n = Number(params.get(name));
  return Number.isSafeInteger(n) && n >= 1 ? n : fallback;
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const onHash = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);
  return route;
}
