// The dashboard's shell: a header with the views, and the view of the hash
// route (route.ts).
import { useEffect, useState } from 'preact/hooks';
import { apiKey } from './api';
import { CustomerView } from './customer';
import { CustomersView } from './customers';
import { RejectedView } from './rejected';
import { useRoute } from './route';
import { RunView } from './run';
import { RunsView } from './runs';

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
  const tab = route.view === 'customers' || route.view === 'customer' ? 'customers' : 'runs';
  // A new view starts at its top.
  useEffect(() => scrollTo(0, 0), [route.view, 'runId' in route ? route.runId : 0]);
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
        {route.view === 'runs' && <RunsView params={route.params} />}
        {route.view === 'run' && <RunView key={route.runId} runId={route.runId} params={route.params} atChanges={route.atChanges} />}
        {route.view === 'rejected' && <RejectedView runId={route.runId} />}
        {route.view === 'customers' && <CustomersView params={route.params} />}
        {route.view === 'customer' && <CustomerView key={route.customerId} customerId={route.customerId} />}
      </main>
    </>
  );
}
