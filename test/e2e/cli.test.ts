// The command line as an operator or a script runs it: the real bin in a
// child process (stdout a pipe, not a terminal), on a test database, against
// a real mock source and a real pipeline.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../src/core/config.js';
import { validateCustomer, type Customer } from '../../src/core/customer.js';
import { buildTestPipeline, startMockSource, type MockSource, type TestPipeline } from '../support/apps.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

const BIN = path.join(PACKAGE_ROOT, 'bin', 'customer-pipeline.js');

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: Record<string, string> = {}): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      {
        cwd: PACKAGE_ROOT,
        // Only what a test gives: no DATABASE_URL or key from the environment of the run.
        env: { ...process.env, DATABASE_URL: '', INGEST_API_KEY: '', MOCK_SERVER_URL: '', SOURCE_MAX_RETRIES: '0', ...env },
        timeout: 60_000,
      },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const ANSI = /\u001b\[/;

const customer = (i: number, over: Partial<Customer> = {}): Customer => ({
  customer_id: `CLI-${String(i).padStart(4, '0')}`,
  first_name: `First${i}`,
  last_name: `Last${i}`,
  email: `cli${i}@example.com`,
  phone: null,
  address: null,
  date_of_birth: '1985-06-15',
  account_balance: 1.5,
  created_at: '2024-03-01T08:00:00',
  ...over,
});
// 40 good records and 2 that break the schema.
const records = [
  ...Array.from({ length: 40 }, (_, i) => customer(i + 1)),
  { ...customer(41), email: 'not-an-email' },
  { ...customer(42), date_of_birth: '1990-02-30' },
];

describe('customer-pipeline (the CLI)', () => {
  let source: MockSource;
  let db: TestDatabase;
  let dir: string;

  beforeAll(async () => {
    source = await startMockSource(records);
    db = await createTestDatabase();
    dir = await mkdtemp(path.join(tmpdir(), 'cp-cli-'));
  });
  afterAll(async () => {
    await source.close();
    await db.drop();
    await rm(dir, { recursive: true, force: true });
  });

  describe('--help', () => {
    it('lists every command and exits 0', async () => {
      const r = await cli(['--help']);
      expect(r.code).toBe(0);
      for (const command of [
        'start',
        'mock',
        'pipeline',
        'ingest',
        'runs',
        'rejected',
        'changes',
        'history',
        'revert',
        'generate',
        'migrate',
      ]) {
        expect(r.stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
      }
    });

    it('describes each command: ingest names --url, --json and the exit codes', async () => {
      const r = await cli(['ingest', '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('--url <pipeline>');
      expect(r.stdout).toContain('--json');
      expect(r.stdout).toMatch(/Exit codes: 0 .* 3 another ingest runs/s);
    });
  });

  describe('usage errors', () => {
    it('exits 2 with a one-line reason on a bad argument, an unknown command or a bad setting', async () => {
      const bad = await cli(['generate', 'many']);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/<n> must be a whole number/);

      const unknown = await cli(['frobnicate']);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toMatch(/unknown command 'frobnicate'/);

      const setting = await cli(['runs'], { DATABASE_URL: 'mysql://nope' });
      expect(setting.code).toBe(2);
      expect(setting.stderr.trim()).toBe(
        'customer-pipeline: invalid setting: DATABASE_URL must start with postgres:// or postgresql://, got "mysql://nope"',
      );
    });
  });

  it('generate <n> writes a dataset file the mock can serve, with --invalid records that break the schema', async () => {
    const file = path.join(dir, 'gen.json');
    const r = await cli(['generate', '25', '--invalid', '3', '--seed', '7', '-o', file, '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ file, records: 25, invalid: 3, seed: 7 });
    const written = JSON.parse(await readFile(file, 'utf8')) as unknown[];
    expect(written).toHaveLength(25);
    expect(written.filter((x) => !validateCustomer(x).ok)).toHaveLength(3);
    // The same seed writes the same file.
    const again = path.join(dir, 'gen2.json');
    await cli(['generate', '25', '--invalid', '3', '--seed', '7', '-o', again]);
    expect(await readFile(again, 'utf8')).toBe(await readFile(file, 'utf8'));
  });

  describe('in process, on the database of the settings', () => {
    it('migrate applies the migrations, then says the database is up to date', async () => {
      const fresh = await createTestDatabase({ migrate: false });
      try {
        const first = await cli(['migrate', '--json'], { DATABASE_URL: fresh.url });
        expect(first.code).toBe(0);
        expect((JSON.parse(first.stdout) as { applied: string[] }).applied).toContain('0001_customers.sql');
        const second = await cli(['migrate'], { DATABASE_URL: fresh.url });
        expect(second.stdout.trim()).toBe(`${fresh.url} is up to date`);
      } finally {
        await fresh.drop();
      }
    });

    it('ingest --json runs one ingest, prints its run record, and exits 0', async () => {
      const r = await cli(['ingest', '--source', source.url, '--json'], { DATABASE_URL: db.url });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const run = JSON.parse(r.stdout) as Record<string, unknown>;
      expect(run).toMatchObject({ status: 'succeeded', fetched: 42, inserted: 40, rejected: 2, error: null });
      const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM customers');
      expect(rows[0].n).toBe(40);
    });

    it('ingest without --json prints a summary table, no progress bar and no colour when stdout is not a terminal', async () => {
      const r = await cli(['ingest', '--source', source.url], { DATABASE_URL: db.url });
      expect(r.code).toBe(0);
      expect(r.stdout).not.toMatch(ANSI);
      expect(r.stdout).not.toMatch(/[░█]/);
      expect(r.stdout).toMatch(/^run \d+ succeeded in /m);
      expect(r.stdout).toMatch(/│ unchanged\s+│\s+40 │/);
      expect(r.stdout).toMatch(/│ rejected\s+│\s+2 │/);
      expect(r.stdout).toMatch(/customer-pipeline rejected \d+/);
    });

    it('exits 1 with a one-line reason when the run fails, and records it', async () => {
      const broken = await startMockSource(records, 1000, 'errorRate=1');
      try {
        const r = await cli(['ingest', '--source', broken.url], { DATABASE_URL: db.url });
        expect(r.code).toBe(1);
        expect(r.stderr).toMatch(/^customer-pipeline: run \d+ failed: .*503.*\n$/);
        const json = await cli(['ingest', '--source', broken.url, '--json'], { DATABASE_URL: db.url });
        expect(json.code).toBe(1);
        expect(JSON.parse(json.stdout)).toMatchObject({ status: 'failed', error: expect.stringMatching(/503/) });
      } finally {
        await broken.close();
      }
    });

    it('runs lists the runs, newest first, as a table or as JSON', async () => {
      const table = await cli(['runs'], { DATABASE_URL: db.url });
      expect(table.code).toBe(0);
      expect(table.stdout).not.toMatch(ANSI);
      expect(table.stdout).toMatch(/│ run │ status\s+│/);
      expect(table.stdout).toMatch(/│\s+\d+ │ failed\s+│/);
      const json = JSON.parse((await cli(['runs', '--json', '-n', '2'], { DATABASE_URL: db.url })).stdout) as {
        data: { id: number; status: string }[];
        total: number;
      };
      expect(json.total).toBe(4);
      expect(json.data.map((r) => r.status)).toEqual(['failed', 'failed']);
      expect(json.data[0]!.id).toBeGreaterThan(json.data[1]!.id);
    });

    it('rejected <run> shows the records that broke the schema with their reasons; an unknown run exits 1', async () => {
      const { rows } = await db.pool.query(`SELECT min(id)::int AS id FROM ingestion_runs WHERE rejected > 0`);
      const runId = rows[0].id as number;
      const r = await cli(['rejected', String(runId)], { DATABASE_URL: db.url });
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('CLI-0041');
      expect(r.stdout).toMatch(/email/);
      expect(r.stdout).toContain('CLI-0042');
      expect(r.stdout).toMatch(/date_of_birth/);
      const json = JSON.parse((await cli(['rejected', String(runId), '--json'], { DATABASE_URL: db.url })).stdout) as {
        total: number;
        data: { customer_id: string; reasons: string[] }[];
      };
      expect(json.total).toBe(2);
      expect(json.data.map((d) => d.customer_id)).toEqual(['CLI-0041', 'CLI-0042']);

      const unknown = await cli(['rejected', '999999'], { DATABASE_URL: db.url });
      expect(unknown.code).toBe(1);
      expect(unknown.stderr.trim()).toBe('customer-pipeline: Run 999999 not found');
    });

    it('ingest --dry-run previews, changes and history show what runs did, revert undoes one (exit 3 when refused)', async () => {
      const changed = await startMockSource(records.map((r, i) => (i === 0 ? { ...r, first_name: 'Changed' } : r)));
      const firstName = async () =>
        (await db.pool.query(`SELECT first_name FROM customers WHERE customer_id = 'CLI-0001'`)).rows[0].first_name;
      try {
        const dry = await cli(['ingest', '--source', changed.url, '--dry-run', '--json'], { DATABASE_URL: db.url });
        expect(dry.code).toBe(0);
        const dryRun = JSON.parse(dry.stdout) as { id: number; dry_run: boolean; updated: number };
        expect(dryRun).toMatchObject({ status: 'succeeded', dry_run: true, updated: 1, deleted: 0 });
        expect(await firstName()).toBe('First1');
        const preview = await cli(['changes', String(dryRun.id)], { DATABASE_URL: db.url });
        expect(preview.code).toBe(0);
        expect(preview.stdout).toMatch(/CLI-0001 .*│ update .*│ first_name: First1 → Changed/);
        expect(preview.stdout).toMatch(/dry run .*nothing was written/);

        const real = await cli(['ingest', '--source', changed.url], { DATABASE_URL: db.url });
        expect(real.code).toBe(0);
        expect(real.stdout).toMatch(/│ updated\s+│\s+1 │/);
        const runId = Number(/^run (\d+) succeeded/m.exec(real.stdout)![1]);
        expect(await firstName()).toBe('Changed');

        const history = JSON.parse((await cli(['history', 'CLI-0001', '--json'], { DATABASE_URL: db.url })).stdout) as {
          total: number;
          data: { run_id: number; change: string; fields: string[] }[];
        };
        expect(history.data[0]).toMatchObject({ run_id: runId, change: 'update', fields: ['first_name'] });
        expect(history.data.at(-1)).toMatchObject({ change: 'insert' });
        const table = await cli(['history', 'CLI-0001'], { DATABASE_URL: db.url });
        expect(table.stdout).toMatch(/│ update .*│ first_name: First1 → Changed/);

        const undo = await cli(['revert', String(runId), '--json'], { DATABASE_URL: db.url });
        expect(undo.stderr).toBe('');
        expect(undo.code).toBe(0);
        expect(JSON.parse(undo.stdout)).toMatchObject({ status: 'success', reverts: runId, updated: 1 });
        expect(await firstName()).toBe('First1');

        const again = await cli(['revert', String(runId)], { DATABASE_URL: db.url });
        expect(again.code).toBe(3);
        expect(again.stderr).toMatch(/^customer-pipeline: Run \d+ is already reverted \(by run \d+\)\n$/);
        const ofDry = await cli(['revert', String(dryRun.id), '--json'], { DATABASE_URL: db.url });
        expect(ofDry.code).toBe(3);
        expect(JSON.parse(ofDry.stdout)).toMatchObject({ status: 'conflict', reason: 'dry_run' });
        const never = await cli(['history', 'NOPE'], { DATABASE_URL: db.url });
        expect(never.code).toBe(1);
        expect(never.stderr).toMatch(/Customer NOPE not found/);
      } finally {
        await changed.close();
      }
    });
  });

  describe('--url: against a running pipeline', () => {
    let pipeline: TestPipeline;
    let slow: MockSource;
    let url: string;

    beforeAll(async () => {
      slow = await startMockSource(records);
      pipeline = await buildTestPipeline(slow.url, { ingest: { pageSize: 5, concurrency: 1 } });
      url = await pipeline.app.listen({ host: '127.0.0.1', port: 0 });
    });
    afterAll(async () => {
      await pipeline.close();
      await slow.close();
    });

    it('ingest --url starts the run on the pipeline, follows it to the end and exits 0', async () => {
      slow.faults.set('latencyMs=20');
      const r = await cli(['ingest', '--url', url, '--json']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ status: 'succeeded', fetched: 42, inserted: 40, rejected: 2 });
      const { rows } = await pipeline.db.pool.query('SELECT count(*)::int AS n FROM customers');
      expect(rows[0].n).toBe(40);
    });

    it('exits 3 while another ingest runs, naming it, in both modes', async () => {
      slow.faults.set('latencyMs=1500');
      const started = await pipeline.app.inject({ method: 'POST', url: '/api/ingest?mode=async' });
      const runId = (started.json() as { run_id: number }).run_id;
      try {
        const remote = await cli(['ingest', '--url', url, '--json']);
        expect(remote.code).toBe(3);
        expect(JSON.parse(remote.stdout)).toMatchObject({ status: 'conflict', running_run_id: runId });
        expect(remote.stderr.trim()).toBe(`customer-pipeline: An ingest is already running (run ${runId})`);

        const local = await cli(['ingest', '--source', slow.url], { DATABASE_URL: pipeline.db.url });
        expect(local.code).toBe(3);
        expect(local.stderr.trim()).toBe(`customer-pipeline: An ingest is already running (run ${runId})`);
      } finally {
        slow.faults.set('none');
        while (((await pipeline.app.inject(`/api/ingest/runs/${runId}`)).json() as { status: string }).status === 'running') {
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    });

    it('changes, history and revert work through the pipeline API too', async () => {
      const runs = JSON.parse((await cli(['runs', '--url', url, '--json'])).stdout) as {
        data: { id: number; inserted: number; status: string }[];
      };
      const inserting = runs.data.find((r) => r.inserted > 0 && r.status === 'succeeded')!;
      const changes = JSON.parse(
        (await cli(['changes', String(inserting.id), '--url', url, '--json', '--change', 'insert', '-n', '5'])).stdout,
      ) as {
        total: number;
        data: { customer_id: string; change: string }[];
      };
      expect(changes.total).toBe(40);
      expect(changes.data.map((c) => c.customer_id)).toEqual(['CLI-0001', 'CLI-0002', 'CLI-0003', 'CLI-0004', 'CLI-0005']);
      expect((await cli(['history', 'CLI-0001', '--url', url])).stdout).toMatch(/│ insert /);
      const dry = await cli(['ingest', '--url', url, '--dry-run', '--json']);
      expect(JSON.parse(dry.stdout)).toMatchObject({ status: 'succeeded', dry_run: true });
      const refused = await cli(['revert', String(JSON.parse(dry.stdout).id), '--url', url, '--json']);
      expect(refused.code).toBe(3);
      expect(JSON.parse(refused.stdout)).toMatchObject({ status: 'conflict', reason: 'dry_run' });
    });

    it('runs and rejected read the pipeline API', async () => {
      const runs = JSON.parse((await cli(['runs', '--url', url, '--json'])).stdout) as { data: { id: number; rejected: number }[] };
      expect(runs.data.length).toBeGreaterThanOrEqual(2);
      const withRejects = runs.data.find((r) => r.rejected > 0)!;
      const rejected = await cli(['rejected', String(withRejects.id), '--url', url]);
      expect(rejected.code).toBe(0);
      expect(rejected.stdout).toContain('CLI-0041');
      expect(rejected.stdout).not.toMatch(ANSI);
    });

    it('sends the API key of a guarded pipeline (--api-key, or INGEST_API_KEY), and exits 2 without it', async () => {
      const key = 'cli-test-key-0123456789abcdef';
      const guarded = await buildTestPipeline(slow.url, { security: { apiKey: key } }, pipeline.db);
      try {
        const guardedUrl = await guarded.app.listen({ host: '127.0.0.1', port: 0 });
        const without = await cli(['runs', '--url', guardedUrl]);
        expect(without.code).toBe(2);
        expect(without.stderr).toMatch(/^customer-pipeline: the pipeline wants its API key: .*--api-key/);
        expect((await cli(['runs', '--url', guardedUrl, '--api-key', key])).code).toBe(0);
        expect((await cli(['runs', '--url', guardedUrl], { INGEST_API_KEY: key })).code).toBe(0);
      } finally {
        await guarded.close();
      }
    });

    it('exits 1 with a one-line reason when the pipeline cannot be reached', async () => {
      const r = await cli(['runs', '--url', 'http://127.0.0.1:9']);
      expect(r.code).toBe(1);
      expect(r.stderr.trim()).toBe('customer-pipeline: cannot reach the pipeline at http://127.0.0.1:9: ECONNREFUSED');
    });
  });
});
