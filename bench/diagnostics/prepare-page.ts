// CPU of page preparation, in this process: the byte scan (preparePage, as
// the ingest runs it) against the reference (parsePage: decode, JSON.parse,
// validate, encode), on pages of generated records; checks that both give
// the same bytes first. Medians of 7 passes.
//   npx tsx bench/prepare-page.ts [--records 200000] [--page 1000]
import { parseArgs } from 'node:util';
import { generateRecord } from '../../src/core/mock/dataset.js';
import { parsePage, preparePage } from '../../src/core/ingest/prepare-page.js';

const { values } = parseArgs({ options: { records: { type: 'string', default: '200000' }, page: { type: 'string', default: '1000' } } });
const n = Number(values.records);
const size = Number(values.page);
const pages: Buffer[] = [];
for (let start = 0; start < n; start += size) {
  const recs = Array.from({ length: Math.min(size, n - start) }, (_, j) => generateRecord(1, start + j));
  pages.push(Buffer.from(`{"data":${JSON.stringify(recs)},"total":${n},"page":${start / size + 1},"limit":${size}}`));
}
for (const [p, body] of pages.entries()) {
  const a = parsePage(p + 1, body);
  const b = preparePage(p + 1, body);
  if (!a.ok || !b.ok || Buffer.compare(Buffer.from(a.rows), Buffer.from(b.rows)) !== 0)
    throw new Error(`page ${p + 1}: the scan and the reference differ`);
}
const mb = pages.reduce((s, b) => s + b.length, 0) / 1e6;
process.stdout.write(`${n.toLocaleString('en-US')} records in ${pages.length} pages, ${mb.toFixed(1)} MB of JSON\n`);
for (const [name, prepare] of [
  ['parsePage (JSON.parse + validator)', parsePage],
  ['preparePage (byte scan)', preparePage],
] as const) {
  const times: number[] = [];
  for (let r = 0; r < 7; r++) {
    const t = performance.now();
    for (const [p, body] of pages.entries()) prepare(p + 1, body);
    times.push(performance.now() - t);
  }
  times.sort((x, y) => x - y);
  process.stdout.write(`${name}: median ${times[3]!.toFixed(0)} ms (min ${times[0]!.toFixed(0)}, max ${times[6]!.toFixed(0)})\n`);
}
