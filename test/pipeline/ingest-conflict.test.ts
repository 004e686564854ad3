// Two ingests asked at once: one runs, the other is a 409 whose run_id names
// the run that holds the lock, never null, however close together they come
// (the loser may look before the winner's run row exists).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestPipeline, type TestPipeline } from '../support/apps.js';

const RECORD = {
  customer_id: 'R-1',
  first_name: 'Ada',
  last_name: 'Lovelace',
  email: 'ada@example.com',
  phone: null,
  address: null,
  date_of_birth: null,
  account_balance: null,
  created_at: null,
};

/** A source whose page 1 waits until the test releases it. */
class SlowSource {
  readonly server: http.Server;
  private release: (() => void) | null = null;
  private gate: Promise<void> = Promise.resolve();

  constructor() {
    this.server = http.createServer((req, res) => {
      const page = new URL(req.url ?? '/', 'http://x').searchParams.get('page');
      const send = (data: unknown[]) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ data, total: 1, page: Number(page), limit: 1000 }));
      };
      if (page === '1') void this.gate.then(() => send([RECORD]));
      else send([]);
    });
  }

  /** Page 1 is held from now until `open()`. */
  hold(): void {
    this.gate = new Promise((resolve) => (this.release = resolve));
  }

  open(): void {
    this.release?.();
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
}

describe('POST /api/ingest twice at once', () => {
  const source = new SlowSource();
  let pipeline: TestPipeline;

  beforeAll(async () => {
    pipeline = await buildTestPipeline(await source.listen());
  });
  afterAll(async () => {
    source.open();
    await pipeline?.close();
    source.server.closeAllConnections();
    await new Promise((resolve) => source.server.close(resolve));
  });

  it("answers the loser 409 naming the winner's run, every time (20 races)", async () => {
    for (let round = 0; round < 20; round++) {
      source.hold();
      const both = [0, 1].map(() => pipeline.app.inject({ method: 'POST', url: '/api/ingest' }));
      // The winner waits on page 1 until released; the loser answers first.
      const loser = await Promise.race(both);
      expect(loser.statusCode, `round ${round}: ${loser.body}`).toBe(409);
      expect(loser.headers['content-type']).toMatch(/^application\/problem\+json/);
      source.open();
      const [a, b] = await Promise.all(both);
      const winner = a === loser ? b! : a!;
      expect(winner.statusCode, `round ${round}: ${winner.body}`).toBe(200);
      const runId = winner.json().run_id as number;
      expect(loser.json().run_id, `round ${round}`).toBe(runId);
    }
  }, 120_000);
});
