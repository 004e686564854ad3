// The records of one run that broke the schema, with every reason.
import { useEffect, useState } from 'preact/hooks';
import { getJson, type Page, type Rejected, type Run } from './api';
import { count, duration, when } from './format';
import { Pager } from './pager';
import { Status } from './runs';

function pretty(payload: string): string {
  try {
    return JSON.stringify(JSON.parse(payload), null, 1);
  } catch {
    return payload;
  }
}

export function RejectedView({ runId }: { runId: number }) {
  const [run, setRun] = useState<Run | null>(null);
  const [page, setPage] = useState(1);
  const [result, setResult] = useState<Page<Rejected> | null>(null);
  const [error, setError] = useState<string | null>(null);
  const limit = 25;

  useEffect(() => {
    getJson<Run>(`/api/ingest/runs/${runId}`).then(setRun, (err: Error) => setError(err.message));
  }, [runId]);
  useEffect(() => {
    getJson<Page<Rejected>>(`/api/ingest/runs/${runId}/rejected?page=${page}&limit=${limit}`).then(setResult, (err: Error) =>
      setError(err.message),
    );
  }, [runId, page]);

  return (
    <section class="panel">
      <div class="panel-head">
        <a href={`#/runs/${runId}`} class="back" data-testid="back-to-run">
          ← Run #{runId}
        </a>
        <h2>Run #{runId}: rejected records</h2>
        {run && (
          <span class="muted">
            <Status status={run.status} /> {when(run.started_at)} · {duration(run.duration_ms)} · {count(run.fetched)} fetched,{' '}
            {count(run.rejected)} rejected
          </span>
        )}
      </div>
      {error && <p class="error">{error}</p>}
      {result && result.total === 0 && <p class="muted">This run rejected no record.</p>}
      {result && result.total > 0 && (
        <>
          <table data-testid="rejected-table" class="rejected">
            <thead>
              <tr>
                <th class="num">Page</th>
                <th class="num">#</th>
                <th>Customer</th>
                <th>Reasons</th>
                <th>Record as received</th>
              </tr>
            </thead>
            <tbody>
              {result.data.map((r) => (
                <tr key={r.id}>
                  <td class="num">{r.page}</td>
                  <td class="num">{r.position}</td>
                  <td class="mono">{r.customer_id ?? <span class="muted">(none)</span>}</td>
                  <td>
                    <ul class="reasons">
                      {r.reasons.map((reason, i) => (
                        <li key={i}>{reason}</li>
                      ))}
                    </ul>
                  </td>
                  <td>
                    <pre>{pretty(r.payload)}</pre>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pager page={page} limit={limit} total={result.total} onPage={setPage} />
        </>
      )}
    </section>
  );
}
