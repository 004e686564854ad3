// The dashboard in a real browser: Debian's Chromium (/usr/bin/chromium,
// installed by .ci/run) driven by playwright-core, against a real pipeline on
// a test database and a real mock source. A screenshot of each screen goes to
// test-artifacts/; the browser runs in Europe/Paris, so times show +01:00 in
// winter and +02:00 in summer.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../src/core/config.js';
import { generateRecord } from '../../src/core/mock/dataset.js';
import { buildTestPipeline, startMockSource, type MockSource, type TestPipeline } from '../support/apps.js';
import { CHROMIUM, withoutChromium } from '../support/tools.js';

const skip = withoutChromium();
const ARTIFACTS = path.join(PACKAGE_ROOT, 'test-artifacts');
// Flags for a closed network: no background requests to Google's hosts.
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

// 3,000 synthetic customers (40 pages of 75), one with a name to search for,
// and 3 records that break the schema.
const GOOD = 3000;
const records: unknown[] = Array.from({ length: GOOD }, (_, i) => generateRecord(11, i));
records[1234] = { ...(records[1234] as object), first_name: 'Ada', last_name: 'Lovelace', email: 'ada.lovelace@example.com' };
records.push(
  { ...generateRecord(11, GOOD), email: 'not-an-email' },
  { ...generateRecord(11, GOOD + 1), date_of_birth: '1990-02-30' },
  { ...generateRecord(11, GOOD + 2), account_balance: 12.345, phone: '+1-555-0100-0100-0100-0100' },
);

/** The API's answer, as JSON. */
async function api<T>(pipeline: TestPipeline, url: string): Promise<T> {
  const res = await pipeline.app.inject(url);
  expect(res.statusCode, url).toBe(200);
  return res.json() as T;
}

type RunJson = { id: number; status: string; started_at: string; error: string | null } & Record<string, unknown>;

// A history of 27 earlier runs, 6 hours apart from midsummer on, inserted as
// the pipeline records them: most unchanged, every ninth failed with a long
// error (a URL in it too, which has to wrap).
const HISTORY = 27;
const HISTORY_START = Date.UTC(2026, 6, 1, 10, 0, 0);
const LONG_ERROR =
  'source answered HTTP 503 Service Unavailable on page 17 after 3 retries (upstream connect error or disconnect/reset before headers; reset reason: connection termination) at http://source.internal:8001/api/customers?page=17&limit=1000&snapshot=2026-07-01T10%3A00%3A00Z: the transaction was rolled back and nothing was merged into customers';

async function seedHistory(pipeline: TestPipeline): Promise<void> {
  for (let i = 0; i < HISTORY; i++) {
    const failed = i % 9 === 4;
    const started = new Date(HISTORY_START + i * 6 * 3600_000);
    const ms = 1500 + ((i * 7919) % 2500);
    const fetched = failed ? 1275 : 3003;
    const [inserted, updated] = i === 0 ? [3000, 0] : failed ? [0, 0] : [(i * 3) % 40, (i * 37) % 400];
    await pipeline.db.pool.query(
      `INSERT INTO ingestion_runs (status, source_url, started_at, finished_at, pages, fetched, inserted, updated, unchanged, rejected, retries, error)
       VALUES ($1, 'http://source.internal:8001', $2, $3, $4, $5, $6, $7, $8, 0, $9, $10)`,
      [
        failed ? 'failed' : 'succeeded',
        started,
        new Date(started.getTime() + ms),
        failed ? 17 : 41,
        fetched,
        inserted,
        updated,
        failed ? 0 : fetched - 3 - inserted - updated,
        failed ? 3 : i % 4,
        failed ? LONG_ERROR : null,
      ],
    );
  }
}

/**
 * The answers that are the behaviour under test, which the browser logs as
 * failed loads: a refused revert (409), a deleted customer's record (404).
 */
function expectedFailure(text: string, url: string): boolean {
  const status = /status of (\d+)/.exec(text)?.[1];
  return (
    (status === '409' && /\/api\/ingest\/runs\/\d+\/revert$/.test(url)) ||
    (status === '404' && /\/api\/customers\/GEN-000001235$/.test(url))
  );
}

describe.skipIf(skip)('the dashboard, in Chromium', () => {
  let source: MockSource;
  let pipeline: TestPipeline;
  let base: string;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];

  const shot = (name: string) => page.screenshot({ path: path.join(ARTIFACTS, `dashboard-${name}.png`), fullPage: true });

  beforeAll(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    // About 40 ms a page, one page at a time: a run of a couple of seconds, long enough to watch.
    source = await startMockSource(records, 1000, 'latencyMs=40');
    pipeline = await buildTestPipeline(source.url, { ingest: { pageSize: 75, concurrency: 1 } });
    base = await pipeline.app.listen({ host: '127.0.0.1', port: 0 });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
    page = await browser.newPage({ viewport: { width: 1360, height: 820 }, timezoneId: 'Europe/Paris' });
    // A script error, a CSP violation or a failed request shows here.
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on(
      'console',
      (m) => m.type() === 'error' && !expectedFailure(m.text(), m.location().url) && problems.push(`console: ${m.text()}`),
    );
    // ERR_ABORTED is the page cancelling a request it no longer needs (a newer search, a view left).
    page.on('requestfailed', (r) => {
      const error = r.failure()?.errorText ?? '';
      if (error !== 'net::ERR_ABORTED') problems.push(`request failed: ${r.url()} ${error}`);
    });
  });
  afterAll(async () => {
    await browser?.close();
    await pipeline?.close();
    await source?.close();
  });

  it('shows the runs screen, with no run yet', async () => {
    await page.goto(`${base}/`);
    await expect.poll(() => page.getByText('No runs yet').isVisible()).toBe(true);
    expect(await page.title()).toBe('customer-pipeline');
    await shot('1-runs-empty');
  });

  it('charts the earlier runs, pages the table to the oldest, shows times with their zone and errors in full', async () => {
    await seedHistory(pipeline);
    await page.reload();
    const charts = page.getByTestId('run-charts');
    await charts.waitFor();
    // A bar per run, one point per run in each line chart; a bar's tooltip holds the run's counts.
    expect(await page.locator('[data-testid="chart-outcomes"] a.bar-run').count()).toBe(HISTORY);
    expect(await page.locator('[data-testid="chart-duration"] circle').count()).toBe(HISTORY);
    expect(await page.locator('[data-testid="chart-rate"] circle').count()).toBe(HISTORY);
    expect(await page.locator('[data-testid="chart-outcomes"] a.bar-run[data-run="1"] title').textContent()).toMatch(/inserted: 3,000/);
    // No run deleted anything yet: no such bar.
    expect(await page.locator('[data-testid="chart-outcomes"] rect[data-series="deleted"]').count()).toBe(0);
    expect(await page.locator('[data-testid="chart-outcomes"] rect[data-series="inserted"]').first().boundingBox()).toMatchObject({
      height: expect.any(Number),
    });

    const pager = page.getByTestId('pager');
    expect(await pager.textContent()).toMatch(/1–20 of 27 · page 1 of 2/);
    const table = page.getByTestId('runs-table');
    expect(await table.locator('tbody').first().getAttribute('data-run')).toBe(String(HISTORY));
    await shot('2-runs-history');

    // The last page holds the oldest run, started at 10:00 UTC: noon in Paris, in summer time.
    await page.getByTestId('page-2').click();
    await expect.poll(() => pager.textContent()).toMatch(/21–27 of 27 · page 2 of 2/);
    await expect.poll(() => table.locator('tbody').last().getAttribute('data-run')).toBe('1');
    expect(await table.locator('tbody[data-run="1"] td.when').textContent()).toBe('2026-07-01 12:00:00 UTC+02:00');
    expect(page.url()).toBe(`${base}/#/runs?page=2`);
    // The failed run's error, whole, under its row.
    expect(await page.getByTestId('run-error-5').textContent()).toBe(LONG_ERROR);
    expect(await page.getByTestId('run-error-5').isVisible()).toBe(true);
    await shot('3-runs-pager');
    await page.getByTestId('page-1').click();
    await expect.poll(() => pager.textContent()).toMatch(/page 1 of 2/);
  });

  it('starts an ingest from the button, shows its live progress, then the final counts', async () => {
    await page.getByTestId('start-ingest').click();
    const progress = page.getByTestId('ingest-progress');
    await progress.waitFor();
    // Progress from the event stream: pages done of the total the source announced.
    await expect.poll(async () => Number(await page.getByTestId('progress-pages').textContent()), { timeout: 10_000 }).toBeGreaterThan(2);
    expect(await page.getByTestId('progress-total').textContent()).toBe('41');
    expect(Number((await page.getByTestId('progress-records').textContent())!.replace(/,/g, ''))).toBeGreaterThan(150);
    expect(Number((await page.getByTestId('progress-rate').textContent())!.replace(/,/g, ''))).toBeGreaterThan(0);
    expect(await page.getByTestId('progress-eta').textContent()).toMatch(/^ETA \d/);
    await shot('4-ingest-progress');

    const result = page.getByTestId('ingest-result');
    await result.waitFor({ timeout: 30_000 });
    expect(await result.textContent()).toMatch(/succeeded/);
    expect(await page.getByTestId('result-fetched').textContent()).toBe('fetched3,003');
    expect(await page.getByTestId('result-inserted').textContent()).toBe('inserted3,000');
    expect(await page.getByTestId('result-rejected').textContent()).toBe('rejected3');
    // The runs table has the run with its counts.
    const row = page.locator('[data-testid="runs-table"] tbody tr').first();
    await expect.poll(() => row.textContent()).toMatch(/succeeded.*3,003.*3,000/);
    await shot('5-ingest-done');
  });

  it("a run's page shows the counts the API gives, its times, and links to its rejected records", async () => {
    const newest = (await api<{ data: RunJson[] }>(pipeline, '/api/ingest/runs')).data[0]!;
    await page.getByTestId(`run-link-${newest.id}`).click();
    await page.getByTestId('run-page').waitFor();
    expect(page.url()).toBe(`${base}/#/runs/${newest.id}`);
    const run = await api<RunJson>(pipeline, `/api/ingest/runs/${newest.id}`);
    await expect.poll(() => page.getByTestId('run-inserted').textContent()).toBe('inserted3,000');
    for (const name of ['pages', 'fetched', 'inserted', 'updated', 'unchanged', 'rejected', 'retries']) {
      expect(await page.getByTestId(`run-${name}`).textContent()).toBe(`${name}${(run[name] as number).toLocaleString('en-US')}`);
    }
    expect(await page.getByTestId('run-page').textContent()).toContain('succeeded');
    // Times in the browser's zone (Paris, winter: +01:00), to the second.
    const paris = new Intl.DateTimeFormat('sv-SE', { timeZone: 'Europe/Paris', dateStyle: 'short', timeStyle: 'medium' });
    expect(await page.getByTestId('run-started').textContent()).toBe(`${paris.format(new Date(run.started_at))} UTC+01:00`);
    // Its phases' timings, as the record gives them.
    expect(await page.getByTestId('run-phases').textContent()).toMatch(/^fetching [\d.]+ m?s, merging [\d.]+ m?s$/);
    await shot('6-run-page');
    await page.getByTestId('run-rejected-link').click();
    await page.getByTestId('rejected-table').waitFor();
    expect(page.url()).toBe(`${base}/#/runs/${newest.id}/rejected`);
    await page.getByTestId('back-to-run').click();
    await page.getByTestId('run-page').waitFor();

    // A failed run's page: its error in full.
    await page.goto(`${base}/#/runs/5`);
    await expect.poll(() => page.getByTestId('run-error').textContent()).toBe(LONG_ERROR);
    expect(await page.getByTestId('run-page').textContent()).toContain('failed');
  });

  it("a running run's page follows its progress live, then shows its final counts", async () => {
    const started = await pipeline.app.inject({ method: 'POST', url: '/api/ingest?mode=async' });
    expect(started.statusCode).toBe(202);
    const id = (started.json() as { run_id: number }).run_id;
    await page.goto(`${base}/#/runs/${id}`);
    await page.getByTestId('ingest-progress').waitFor();
    await expect.poll(async () => Number(await page.getByTestId('progress-pages').textContent()), { timeout: 10_000 }).toBeGreaterThan(1);
    expect(await page.getByTestId('run-finished').textContent()).toBe('not yet');
    expect(await page.getByTestId('progress-phase').textContent()).toBe('fetching pages');
    // The counts follow the stream, then the final record.
    await expect.poll(() => page.getByTestId('run-finished').textContent(), { timeout: 30_000 }).not.toBe('not yet');
    const run = await api<RunJson>(pipeline, `/api/ingest/runs/${id}`);
    expect(run.status).toBe('succeeded');
    expect(await page.getByTestId('run-unchanged').textContent()).toBe(`unchanged${(run.unchanged as number).toLocaleString('en-US')}`);
    expect(await page.getByTestId('run-fetched').textContent()).toBe('fetched3,003');
    expect(await page.getByTestId('ingest-progress').count()).toBe(0);
    await page.getByTestId('nav-runs').click();
    await page.getByTestId('runs-table').waitFor();
  });

  it('pages, searches and sorts the customers table', async () => {
    await page.getByTestId('nav-customers').click();
    const table = page.getByTestId('customers-table');
    await table.waitFor();
    expect(await page.getByTestId('customers-total').textContent()).toBe('3,000 stored');
    expect(await page.getByTestId('pager').textContent()).toMatch(/1–25 of 3,000 · page 1 of 120/);
    await page.getByTestId('page-next').click();
    await expect.poll(() => page.getByTestId('pager').textContent()).toMatch(/26–50 of 3,000 · page 2 of 120/);
    // The pager follows the click at once; the rows follow the answer.
    await expect.poll(() => table.locator('tbody tr').first().textContent()).toMatch(/^GEN-000000026/);
    await shot('7-customers');

    // A jump to the last page.
    await page.getByTestId('page-jump').fill('120');
    await page.getByTestId('page-jump').press('Enter');
    await expect.poll(() => page.getByTestId('pager').textContent()).toMatch(/2,976–3,000 of 3,000 · page 120 of 120/);
    await expect.poll(() => table.locator('tbody tr').last().textContent()).toMatch(/^GEN-000003000/);

    // The whole header cell sorts, its corner too; descending puts the customers without a balance first, and says why.
    const th = page.getByTestId('th-account_balance');
    await th.click({ position: { x: 3, y: 3 } });
    await expect.poll(() => th.getAttribute('aria-sort')).toBe('ascending');
    expect(await page.getByTestId('pager').textContent()).toMatch(/page 1 of 120/);
    expect(await page.getByTestId('nulls-first-note').count()).toBe(0);
    await th.click({ position: { x: 3, y: 3 } });
    await expect.poll(() => page.getByTestId('sort-account_balance').textContent()).toBe('Balance ▼');
    await expect.poll(() => table.locator('tbody tr td.num').first().textContent()).toBe('—');
    expect(await page.getByTestId('nulls-first-note').textContent()).toMatch(/without a balance value come first.*NULLs/);

    await page.getByTestId('customer-search').fill('lovel');
    await expect.poll(() => page.getByTestId('customers-total').textContent()).toBe('1 matching');
    const rows = table.locator('tbody tr');
    await expect.poll(() => rows.count()).toBe(1);
    expect(await rows.first().textContent()).toMatch(/GEN-000001235.*Ada.*Lovelace.*ada\.lovelace@example\.com/);
    await shot('8-customers-search');
  });

  it("opens a customer's page from a click on the row, with every field, and comes back to the same list", async () => {
    const ada = records[1234] as { address: string | null; phone: string | null };
    expect(ada.address).not.toBeNull();
    const listUrl = page.url();
    // A click anywhere on the row (here the last name), not only on the id.
    await page.getByTestId('customers-table').locator('tbody tr').first().getByText('Lovelace', { exact: true }).click();
    await page.getByTestId('customer-page').waitFor();
    expect(page.url()).toBe(`${base}/#/customers/GEN-000001235`);
    await expect.poll(() => page.getByTestId('field-address').textContent()).toBe(`Address${ada.address}`);
    expect(await page.getByTestId('field-email').textContent()).toBe('Emailada.lovelace@example.com');
    expect(await page.getByTestId('field-phone').textContent()).toBe(`Phone${ada.phone ?? 'none'}`);
    for (const f of ['customer_id', 'first_name', 'last_name', 'date_of_birth', 'account_balance', 'created_at']) {
      expect(await page.getByTestId(`field-${f}`).count()).toBe(1);
    }
    await shot('9-customer-page');
    // Back: the same search, sort and page.
    await page.goBack();
    await expect.poll(() => page.getByTestId('customers-total').textContent()).toBe('1 matching');
    expect(page.url()).toBe(listUrl);
    expect(await page.getByTestId('customer-search').inputValue()).toBe('lovel');
  });

  it("opens a run's rejected records with their reasons", async () => {
    await page.getByTestId('nav-runs').click();
    const runId = ((await pipeline.app.inject('/api/ingest/runs')).json() as { data: { id: number }[] }).data[0]!.id;
    await page.getByTestId(`rejected-link-${runId}`).click();
    const table = page.getByTestId('rejected-table');
    await table.waitFor();
    expect(page.url()).toBe(`${base}/#/runs/${runId}/rejected`);
    const text = await table.textContent();
    expect(text).toMatch(/GEN-000003001.*email/);
    expect(text).toMatch(/GEN-000003002.*date_of_birth/);
    expect(text).toMatch(/GEN-000003003.*account_balance.*phone|GEN-000003003.*phone.*account_balance/);
    expect(text).toContain('"email": "not-an-email"');
    await shot('11-rejected-records');
  });

  // Change sets (issue #13): a preview, a run's diff, a customer's history, a revert refused and one done, a deletion.
  // The source changes under the pipeline: 26 customers updated (25 emails, Ada's address) and 2 new ones.
  const ADA = 'GEN-000001235';
  const ADA_ADDRESS = '1 Analytical Engine Way, London';
  const changed: unknown[] = records.map((r, i) =>
    i < 25 ? { ...(r as object), email: `changed.${i}@example.com` } : i === 1234 ? { ...(r as object), address: ADA_ADDRESS } : r,
  );
  changed.push(generateRecord(11, GOOD + 3), generateRecord(11, GOOD + 4));
  let previewId = 0;
  let changeRunId = 0;
  let laterRunId = 0;

  type Image = Record<string, string | number | null> | null;
  type ChangeJson = { customer_id: string; change: string; fields: string[]; before: Image; after: Image };
  /** A field's value as the dashboard shows it. */
  const shown = (image: Image, field: string): string => {
    const v = image![field];
    if (v === null || v === undefined) return 'none';
    if (field === 'account_balance') return (v as number).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
    return field === 'created_at' ? String(v).replace('T', ' ') : String(v);
  };
  /** One change as the page renders it: each row's field, whether it is highlighted, its before and after cells. */
  const rendered = (testid: string) =>
    page.getByTestId(testid).evaluate((li) =>
      [...li.querySelectorAll('table.diff tr')].map((tr) => ({
        field: tr.getAttribute('data-field')!,
        changed: tr.classList.contains('changed'),
        before: tr.querySelector('td.before')?.textContent ?? null,
        after: tr.querySelector('td.after')?.textContent ?? null,
      })),
    );
  /** The page shows the change as the API gives it: highlighted fields = `fields`, before → after their values. */
  async function expectDiff(testid: string, c: Omit<ChangeJson, 'customer_id'>): Promise<void> {
    const rows = await rendered(testid);
    expect(
      rows.filter((r) => r.changed).map((r) => r.field),
      testid,
    ).toEqual(c.fields);
    for (const r of rows.filter((x) => x.changed)) {
      expect(r.before, `${testid} ${r.field}`).toBe(c.change === 'insert' ? null : shown(c.before, r.field));
      expect(r.after, `${testid} ${r.field}`).toBe(c.change === 'delete' ? null : shown(c.after, r.field));
    }
  }
  async function expectChangesPage(runId: number, query: string): Promise<void> {
    const api_ = await api<{ data: ChangeJson[] }>(pipeline, `/api/ingest/runs/${runId}/changes?limit=20&${query}`);
    expect(api_.data.length).toBeGreaterThan(0);
    const list = page.getByTestId('changes').locator('li.change');
    await expect
      .poll(() => list.evaluateAll((lis) => lis.map((li) => li.getAttribute('data-testid'))))
      .toEqual(api_.data.map((c) => `change-${c.customer_id}`));
    for (const c of api_.data) await expectDiff(`change-${c.customer_id}`, c);
  }

  it('previews a dry run: its change set, marked as a preview, and nothing written', async () => {
    source.setRecords(changed);
    await page.goto(`${base}/#/runs`);
    await page.getByTestId('start-dry-run').click();
    // The run's page, at its change set, once the run has ended.
    await page.waitForURL(/#\/runs\/\d+\/changes$/);
    previewId = Number(/#\/runs\/(\d+)\/changes$/.exec(page.url())![1]);
    await expect.poll(() => page.getByTestId('changes').locator('li.change').count(), { timeout: 30_000 }).toBe(20);
    expect(await page.getByTestId('dry-run-note').textContent()).toMatch(/^Preview: nothing was written\./);
    expect(await page.getByTestId(`tag-dry-${previewId}`).textContent()).toBe('dry run');
    await expectChangesPage(previewId, '');
    expect(await page.getByTestId('changes').getByTestId('pager').textContent()).toMatch(/1–20 of 28 · page 1 of 2/);
    // Nothing was written: the customers are as they were, and it cannot be reverted.
    expect((await api<{ email: string }>(pipeline, '/api/customers/GEN-000000001')).email).toBe((records[0] as { email: string }).email);
    expect(await page.getByTestId('revert-button').isDisabled()).toBe(true);
    expect(await page.getByTestId('revert-why-not').textContent()).toMatch(/dry run wrote nothing/);
    await shot('20-changes-dry-run');
  });

  it("shows a run's changes as a diff: filtered by kind, paged, the fields the API names highlighted", async () => {
    await page.goto(`${base}/#/runs`);
    await page.getByTestId('start-ingest').click();
    await page.getByTestId('ingest-result').waitFor({ timeout: 30_000 });
    expect(await page.getByTestId('result-updated').textContent()).toBe('updated26');
    await page.getByTestId('result-changes-link').click();
    await page.waitForURL(/#\/runs\/\d+\/changes$/);
    changeRunId = Number(/#\/runs\/(\d+)\/changes$/.exec(page.url())![1]);
    await expectChangesPage(changeRunId, '');
    expect(await page.getByTestId('dry-run-note').count()).toBe(0);
    await shot('21-changes-diff');

    // Updates only, second page: Ada's address, before → after.
    await page.getByTestId('changes-filter-update').click();
    await expect.poll(() => page.url()).toBe(`${base}/#/runs/${changeRunId}/changes?change=update`);
    await expectChangesPage(changeRunId, 'change=update');
    await page.getByTestId('changes').getByTestId('page-2').click();
    await expect.poll(() => page.url()).toBe(`${base}/#/runs/${changeRunId}/changes?change=update&page=2`);
    await expectChangesPage(changeRunId, 'change=update&page=2');
    const ada = await rendered(`change-${ADA}`);
    expect(ada.filter((r) => r.changed)).toEqual([
      { field: 'address', changed: true, before: (records[1234] as { address: string }).address, after: ADA_ADDRESS },
    ]);
    // Unchanged fields too, on demand, not highlighted.
    await page.getByTestId('all-fields').check();
    await expect.poll(async () => (await rendered(`change-${ADA}`)).length).toBe(8);
    await page.getByTestId('all-fields').uncheck();

    // Inserts: the record as it came in, no before.
    await page.getByTestId('changes-filter-insert').click();
    await expect.poll(() => page.url()).toBe(`${base}/#/runs/${changeRunId}/changes?change=insert`);
    await expectChangesPage(changeRunId, 'change=insert');
    expect(await page.getByTestId('changes').locator('td.before').count()).toBe(0);
  });

  it("shows a customer's history, newest first, with before → after and a link to each run", async () => {
    await page.goto(`${base}/#/customers/${ADA}`);
    const history = await api<{ data: ({ run_id: number } & Omit<ChangeJson, 'customer_id'>)[] }>(
      pipeline,
      `/api/customers/${ADA}/history`,
    );
    // The real run and the first ingest; the dry run changed nothing.
    expect(history.data.map((h) => [h.run_id, h.change])).toEqual([
      [changeRunId, 'update'],
      [28, 'insert'],
    ]);
    const entries = page.getByTestId('history').locator('li.change');
    await expect
      .poll(() => entries.evaluateAll((lis) => lis.map((li) => li.getAttribute('data-testid'))))
      .toEqual(history.data.map((h) => `history-${h.run_id}`));
    for (const h of history.data) await expectDiff(`history-${h.run_id}`, h);
    expect(await page.getByTestId('field-address').textContent()).toBe(`Address${ADA_ADDRESS}`);
    await shot('22-customer-history');
    await page.getByTestId(`history-run-${changeRunId}`).click();
    await page.waitForURL(`${base}/#/runs/${changeRunId}`);
    await expect.poll(() => page.getByTestId('run-updated').textContent()).toBe('updated26');
  });

  it('reverts a run only once confirmed; refuses while a later run changed the same customer, naming it', async () => {
    // A later run changes Ada again.
    source.setRecords(changed.map((r, i) => (i === 1234 ? { ...(r as object), address: '2 Difference Engine Row, London' } : r)));
    const later = await pipeline.app.inject({ method: 'POST', url: '/api/ingest' });
    laterRunId = (later.json() as { run_id: number }).run_id;
    const runsBefore = (await api<{ total: number }>(pipeline, '/api/ingest/runs')).total;

    await page.goto(`${base}/#/runs/${changeRunId}`);
    await page.getByTestId('revert-button').click();
    const dialog = page.getByTestId('revert-dialog');
    await dialog.waitFor();
    const text = await dialog.textContent();
    expect(text).toContain(`Revert run #${changeRunId}?`);
    expect(text).toMatch(/26 updated customers get their values from before the run back/);
    expect(text).toMatch(/2 inserted customers are deleted/);
    expect(text).toMatch(/a run of its own/);
    // The dialog is modal: a shot of the screen, not of the whole page.
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-23-revert-confirm.png') });
    // Cancelled: nothing sent, nothing changed.
    await page.getByTestId('revert-cancel').click();
    await dialog.waitFor({ state: 'hidden' });
    expect((await api<{ total: number }>(pipeline, '/api/ingest/runs')).total).toBe(runsBefore);
    expect((await api<RunJson>(pipeline, `/api/ingest/runs/${changeRunId}`)).reverted_by).toBeNull();

    // Confirmed: refused, the conflicting customer and the run to revert first named.
    await page.getByTestId('revert-button').click();
    await page.getByTestId('revert-confirm').click();
    const refused = page.getByTestId('revert-refused');
    await refused.waitFor();
    expect(await refused.getAttribute('data-reason')).toBe('conflict');
    expect(await page.getByTestId(`revert-first-${laterRunId}`).textContent()).toBe(`run #${laterRunId}`);
    expect(await page.getByTestId('revert-conflicts').textContent()).toBe(`${ADA} last changed by run #${laterRunId}`);
    expect((await api<{ total: number }>(pipeline, '/api/ingest/runs')).total).toBe(runsBefore);
    await shot('24-revert-refused');
  });

  it("reverts the later run once confirmed: the customer's old value is back, the new run linked", async () => {
    await page.goto(`${base}/#/runs/${laterRunId}`);
    await page.getByTestId('revert-button').click();
    await page.getByTestId('revert-confirm').click();
    const link = page.getByTestId('revert-run-link');
    await link.waitFor();
    const revertId = Number((await link.textContent())!.replace('run #', ''));
    expect((await api<{ address: string }>(pipeline, `/api/customers/${ADA}`)).address).toBe(ADA_ADDRESS);
    // The run's page now says who reverted it; a second revert is not offered.
    await expect.poll(() => page.getByTestId('run-reverted-by').textContent()).toBe(`run #${revertId}`);
    expect(await page.getByTestId('revert-done').textContent()).toMatch(/^Reverted by run #\d+: 1 customer back to its values before\.$/);
    await shot('25-revert-done');
    await link.click();
    await page.waitForURL(`${base}/#/runs/${revertId}`);
    await expect.poll(() => page.getByTestId(`tag-reverts-${revertId}`).textContent()).toBe(`revert of #${laterRunId}`);
    expect(await page.getByTestId('revert-why-not').count()).toBe(0);
    await page.goto(`${base}/#/customers/${ADA}`);
    await expect.poll(() => page.getByTestId('field-address').textContent()).toBe(`Address${ADA_ADDRESS}`);
    await page.goto(`${base}/#/runs/${laterRunId}`);
    await expect.poll(() => page.getByTestId('revert-why-not').textContent()).toBe(`Already reverted by run #${revertId}.`);
  });

  it("shows a deleted customer's history, with the run that deleted it; the runs list and chart show the deletion", async () => {
    source.setRecords(changed.filter((_, i) => i !== 1234));
    const res = await pipeline.app.inject({ method: 'POST', url: '/api/ingest?delete_missing=true' });
    expect(res.json()).toMatchObject({ deleted: 1 });
    const deleteId = (res.json() as { run_id: number }).run_id;
    expect((await pipeline.app.inject(`/api/customers/${ADA}`)).statusCode).toBe(404);

    await page.goto(`${base}/#/customers/${ADA}`);
    const note = page.getByTestId('deleted-note');
    await note.waitFor();
    expect(await note.textContent()).toMatch(new RegExp(`^Deleted by run #${deleteId} on \\d{4}-\\d\\d-\\d\\d .*no longer stored`));
    const history = await api<{ data: ({ run_id: number } & Omit<ChangeJson, 'customer_id'>)[] }>(
      pipeline,
      `/api/customers/${ADA}/history`,
    );
    expect(history.data[0]).toMatchObject({ run_id: deleteId, change: 'delete' });
    await expect.poll(() => page.getByTestId('history').locator('li.change').count()).toBe(history.data.length);
    for (const h of history.data) await expectDiff(`history-${h.run_id}`, h);
    expect(await page.getByTestId('field-address').textContent()).toBe(`Address${ADA_ADDRESS}`);
    await shot('26-customer-deleted');

    // The runs list: the deleted count, the tags; the chart: a deleted bar for that run.
    await page.goto(`${base}/#/runs`);
    const row = page.locator(`[data-testid="runs-table"] tbody[data-run="${deleteId}"] td`);
    await expect.poll(() => row.nth(9).textContent()).toBe('1');
    expect(await page.getByTestId(`tag-dry-${previewId}`).textContent()).toBe('dry run');
    expect(await page.getByTestId(`tag-reverted-${laterRunId}`).textContent()).toBe('reverted');
    expect(await page.locator(`[data-testid="chart-outcomes"] a.bar-run[data-run="${deleteId}"] rect[data-series="deleted"]`).count()).toBe(
      1,
    );
    expect(await page.locator(`[data-testid="chart-outcomes"] a.bar-run[data-run="${previewId}"] title`).textContent()).toMatch(
      /dry run: nothing written/,
    );
    await shot('27-runs-tags');
  });

  it('fits a 420 px wide screen: no sideways scrolling, the API key field whole', async () => {
    await page.setViewportSize({ width: 420, height: 800 });
    const runId = (await api<{ data: RunJson[] }>(pipeline, '/api/ingest/runs')).data[0]!.id;
    const screens: [string, string, string][] = [
      ['#/runs', 'runs-table', '12-narrow-runs'],
      [`#/runs/${runId}`, 'run-page', '13-narrow-run'],
      ['#/customers', 'customers-table', '14-narrow-customers'],
      ['#/customers/GEN-000001235', 'history', '15-narrow-customer'],
      [`#/runs/${changeRunId}/changes?change=update&page=2`, 'changes', '28-narrow-changes'],
      [`#/runs/${laterRunId}`, 'revert-why-not', '29-narrow-revert'],
    ];
    for (const [hash, testid, name] of screens) {
      await page.goto(`${base}/${hash}`);
      await page.getByTestId(testid).waitFor();
      expect(await page.evaluate<number>('document.documentElement.scrollWidth'), hash).toBeLessThanOrEqual(420);
      const key = (await page.getByTestId('api-key').boundingBox())!;
      expect(key.x).toBeGreaterThanOrEqual(0);
      expect(key.x + key.width).toBeLessThanOrEqual(420);
      await shot(name);
    }
  });

  it('shows the runs table whole at 1024 px: no sideways scrolling in it', async () => {
    await page.setViewportSize({ width: 1024, height: 800 });
    await page.goto(`${base}/#/runs?page=2`);
    await page.getByTestId('run-error-5').waitFor();
    const sizes = await page.getByTestId('runs-table').evaluate((table) => {
      const box = table.parentElement!;
      return {
        table: table.getBoundingClientRect().width,
        box: box.clientWidth,
        scroll: box.scrollWidth,
        page: table.ownerDocument.documentElement.scrollWidth,
      };
    });
    expect(sizes.scroll).toBeLessThanOrEqual(sizes.box);
    expect(sizes.table).toBeLessThanOrEqual(sizes.box);
    expect(sizes.page).toBeLessThanOrEqual(1024);
    await shot('16-wide-runs');
    await page.setViewportSize({ width: 1360, height: 820 });
  });

  it('ran without a script error, a blocked resource or a failed request', () => {
    expect(problems).toEqual([]);
  });
});

describe.skipIf(skip)('the dashboard of a pipeline with INGEST_API_KEY, in Chromium', () => {
  const KEY = 'dashboard-test-key-0123456789';
  let source: MockSource;
  let pipeline: TestPipeline;
  let browser: Browser;

  beforeAll(async () => {
    source = await startMockSource(records.slice(0, 50));
    pipeline = await buildTestPipeline(source.url, { security: { apiKey: KEY } });
    await pipeline.app.listen({ host: '127.0.0.1', port: 0 });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
  });
  afterAll(async () => {
    await browser?.close();
    await pipeline?.close();
    await source?.close();
  });

  it('says the runs need the key, and works once it is typed in the header', async () => {
    const page = await browser.newPage({ viewport: { width: 1360, height: 600 } });
    const address = pipeline.app.server.address() as { port: number };
    await page.goto(`http://127.0.0.1:${address.port}/`);
    await expect.poll(() => page.locator('main').textContent()).toMatch(/Authorization: Bearer.*type the API key/);
    await page.getByTestId('api-key').fill(KEY);
    await page.getByTestId('api-key').press('Enter');
    await page.getByTestId('api-key').blur();
    await expect.poll(() => page.getByText('No runs yet').isVisible()).toBe(true);
    await page.getByTestId('start-ingest').click();
    await page.getByTestId('ingest-result').waitFor({ timeout: 30_000 });
    expect(await page.getByTestId('result-inserted').textContent()).toBe('inserted50');
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-17-api-key.png') });
    // The revert sends the key too.
    await page.goto(`http://127.0.0.1:${address.port}/#/runs/1`);
    await page.getByTestId('revert-button').click();
    await page.getByTestId('revert-confirm').click();
    await expect.poll(() => page.getByTestId('revert-done').textContent()).toMatch(/^Reverted by run #2: 50 inserted customers deleted\.$/);
    expect((await pipeline.app.inject('/api/customers?limit=1')).json()).toMatchObject({ total: 0 });
    await page.close();
  });
});
