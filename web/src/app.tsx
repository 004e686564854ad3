// The dashboard's shell: a header with the views, and the view of the hash
// route (#/runs, #/customers, #/runs/:id/rejected).
import { useEffect, useState } from 'preact/hooks';
import { apiKey } from './api';
import { CustomersView } from './customers';
import { RejectedView } from './rejected';
import { RunsView } from './runs';

type Route = { view: 'runs' } | { view: 'customers' } | { view: 'rejected'; runId: number };

function parse(hash: string): Route {
  const rejected = /^#\/runs\/(\d+)\/rejected$/.exec(hash);
  if (rejected) return { view: 'rejected', runId: Number(rejected[1]) };
  if (hash === '#/customers') return { view: 'customers' };
  return { view: 'runs' };
}

function useRoute(): Route {
  const [route, setRoute] = useState(() => parse(location.hash));
  useEffect(() => {
    const onHash = () => setRoute(parse(location.hash));
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);
  return route;
}

/** The bearer key, for a pipeline started with INGEST_API_KEY (kept for this tab only). */
function KeyField() {
  const [key, setKey] = useState(apiKey.get());
  return (
    <form class="key" onSubmit={(e) => e.preventDefault()}>
      <label title="Only needed when the pipeline runs with INGEST_API_KEY">
        API key{' '}
        <input
          data-testid="api-key"
          type="password"
          value={key}
          placeholder="(none)"
          autocomplete="off"
          onChange={(e) => {
            const v = (e.target as HTMLInputElement).value.trim();
            apiKey.set(v);
            setKey(v);
            location.reload();
          }}
        />
      </label>
    </form>
  );
}

export function App() {
  const route = useRoute();
  const tab = route.view === 'customers' ? 'customers' : 'runs';
  return (
    <>
      <header>
        <h1>customer-pipeline</h1>
        <nav>
          <a href="#/runs" class={tab === 'runs' ? 'active' : ''} data-testid="nav-runs">
            Ingest runs
          </a>
          <a href="#/customers" class={tab === 'customers' ? 'active' : ''} data-testid="nav-customers">
            Customers
          </a>
        </nav>
        <span class="spacer" />
        <a href="/docs" class="docs">
          API docs
        </a>
        <KeyField />
      </header>
      <main>
        {route.view === 'runs' && <RunsView />}
        {route.view === 'customers' && <CustomersView />}
        {route.view === 'rejected' && <RejectedView runId={route.runId} />}
      </main>
    </>
  );
}
