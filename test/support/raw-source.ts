// A source that misbehaves on purpose: a bare node:http server on port 0 whose
// handler writes whatever bytes, at whatever pace, a test wants. It counts the
// requests it got and, per response, the body bytes it managed to write
// before the client hung up.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RawRequest {
  page: number;
  limit: number;
  /** 1 for the first request the server got. */
  n: number;
}

export interface RawSource {
  url: string;
  /** Requests to /api/customers so far. */
  readonly requests: number;
  /** Body bytes written per response, in request order (see `send`). */
  readonly sent: number[];
  /** Resolves when the client has closed the connection of request n (1-based). */
  closed(n: number): Promise<void>;
  close(): Promise<void>;
}

export type RawHandler = (
  req: RawRequest,
  res: ServerResponse,
  /** Writes a body chunk and counts it; resolves once the chunk was handed to the socket (false: the client is gone). */
  send: (chunk: string | Buffer) => Promise<boolean>,
) => void | Promise<void>;

export async function startRawSource(handler: RawHandler): Promise<RawSource> {
  let requests = 0;
  const sent: number[] = [];
  const closedWaits: Promise<void>[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const u = new URL(req.url ?? '/', 'http://x');
    if (u.pathname !== '/api/customers') {
      res.writeHead(404).end();
      return;
    }
    const n = ++requests;
    sent[n - 1] = 0;
    closedWaits[n - 1] = new Promise((resolve) => res.once('close', () => resolve()));
    const send = (chunk: string | Buffer) =>
      new Promise<boolean>((resolve) => {
        if (res.destroyed || res.writableEnded) return resolve(false);
        const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
        sent[n - 1]! += b.length;
        if (res.write(b)) resolve(true);
        else {
          const done = (ok: boolean) => () => {
            res.off('drain', onDrain);
            res.off('close', onClose);
            resolve(ok && !res.destroyed);
          };
          const onDrain = done(true);
          const onClose = done(false);
          res.once('drain', onDrain);
          res.once('close', onClose);
        }
      });
    const page = Number(u.searchParams.get('page') ?? 1);
    const limit = Number(u.searchParams.get('limit') ?? 100);
    void Promise.resolve(handler({ page, limit, n }, res, send)).catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get requests() {
      return requests;
    },
    sent,
    closed: (n) => closedWaits[n - 1] ?? Promise.reject(new Error(`no request ${n}`)),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A generated-looking valid record, as JSON text. */
export function recordText(id: string): string {
  return JSON.stringify({
    customer_id: id,
    first_name: 'Ada',
    last_name: 'Lovelace',
    email: `${id.toLowerCase()}@example.com`,
    phone: null,
    address: null,
    date_of_birth: '1990-01-31',
    account_balance: 10.5,
    created_at: '2024-01-15T10:30:00',
  });
}

/** A page body of these records' texts. */
export function pageBody(records: string[], total: number | null = null): string {
  return `{"data":[${records.join(',')}]${total === null ? '' : `,"total":${total}`}}`;
}
