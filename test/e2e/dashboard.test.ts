// The dashboard in a real browser: Debian's Chromium (/usr/bin/chromium,
// installed by .ci/run) driven by playwright-core, against a real pipeline on
// a test database and a real mock source. A screenshot of each screen goes to
// test-artifacts/.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../src/config.js';
import { generateRecord } from '../../src/mock-server/dataset.js';
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
    page = await browser.newPage({ viewport: { width: 1360, height: 820 } });
    // A script error, a CSP violation or a failed request shows here.
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
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
    await shot('2-ingest-progress');

    const result = page.getByTestId('ingest-result');
    await result.waitFor({ timeout: 30_000 });
    expect(await result.textContent()).toMatch(/succeeded/);
    expect(await page.getByTestId('result-fetched').textContent()).toBe('fetched3,003');
    expect(await page.getByTestId('result-inserted').textContent()).toBe('inserted3,000');
    expect(await page.getByTestId('result-rejected').textContent()).toBe('rejected3');
    // The runs table has the run with its counts.
    const row = page.locator('[data-testid="runs-table"] tbody tr').first();
    await expect.poll(() => row.textContent()).toMatch(/succeeded.*3,003.*3,000/);
    await shot('3-ingest-done');
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
    await shot('4-customers');

    await page.getByTestId('sort-account_balance').click();
    await page.getByTestId('sort-account_balance').click();
    await expect.poll(() => page.getByTestId('sort-account_balance').textContent()).toBe('Balance ▼');

    await page.getByTestId('customer-search').fill('lovel');
    await expect.poll(() => page.getByTestId('customers-total').textContent()).toBe('1 matching');
    const rows = table.locator('tbody tr');
    await expect.poll(() => rows.count()).toBe(1);
    expect(await rows.first().textContent()).toMatch(/GEN-000001235.*Ada.*Lovelace.*ada\.lovelace@example\.com/);
    await shot('5-customers-search');
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
    await shot('6-rejected-records');
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
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-7-api-key.png') });
    await page.close();
  });
});
