// Prometheus metrics both services share: a latency histogram of every
// request by route pattern and status, the process's own metrics, and the
// GET /metrics route. Each app has its own Registry (several apps can live
// in one process: `npm start`, the tests); the process metrics are one set
// per process, whichever app reports them.
import type { FastifyInstance } from 'fastify';
import { Histogram, Registry, collectDefaultMetrics } from 'prom-client';

let processRegistry: Registry | null = null;

/** Node's process metrics (CPU, memory, event loop, GC), collected once per process. */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

export const HTTP_DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120];

type Child = ReturnType<Histogram<'method' | 'route' | 'status_code'>['labels']>;

/**
 * Times every response into `http_request_duration_seconds{method,route,status_code}`
 * (route is the pattern, e.g. /api/customers/:customer_id, never the raw URL;
 * requests no route matched share `route="unmatched"`), and serves GET /metrics.
 */
export function installMetrics(app: FastifyInstance, registry: Registry): void {
  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time to answer an HTTP request, by method, route pattern and status code',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: HTTP_DURATION_BUCKETS,
    registers: [registry],
  });
  // Label lookups hash their values on every call; the hot path reuses the child.
  const children = new Map<string, Child>();
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const key = `${request.method} ${reply.statusCode} ${route}`;
    let child = children.get(key);
    if (!child) {
      child = duration.labels(request.method, route, String(reply.statusCode));
      children.set(key, child);
    }
    child.observe(reply.elapsedTime / 1000);
    done();
  });

  const perProcess = processMetrics();
  app.get(
    '/metrics',
    {
      schema: {
        summary: 'Metrics in the Prometheus text format',
        description: "HTTP latency histograms by route and status, the process (CPU, memory, event loop), and the service's own counters.",
        response: {
          200: {
            description: 'Prometheus text exposition format 0.0.4',
            content: { 'text/plain': { schema: { type: 'string' } } },
          },
        },
      },
    },
    async (_request, reply) => {
      const [own, proc] = await Promise.all([registry.metrics(), perProcess.metrics()]);
      return reply.type(registry.contentType).send(`${own}\n${proc}`);
    },
  );
}
