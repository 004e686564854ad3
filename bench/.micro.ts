import { validateCustomer } from '../src/customer.js';
import { stagingRow } from '../src/pipeline/ingest/loader.js';
import { generatedDataset } from '../src/mock-server/dataset.js';
const ds = generatedDataset(200000, 42);
const pages: string[] = [];
for (let p = 0; p < 200; p++) pages.push(`{"data":[${ds.slice(p * 1000, p * 1000 + 1000).join(',')}],"total":200000,"page":${p + 1},"limit":1000}`);
const bufs = pages.map((p) => Buffer.from(p));
console.log('page bytes', bufs[0]!.length);
for (let round = 0; round < 3; round++) {
  let t = performance.now(); const parsed: any[] = [];
  for (const b of bufs) parsed.push(JSON.parse(b.toString('utf8')));
  const tParse = performance.now() - t; t = performance.now();
  const vals: any[] = [];
  for (const p of parsed) for (const r of p.data) vals.push(validateCustomer(r));
  const tVal = performance.now() - t; t = performance.now();
  let n = 0; let text = '';
  for (let i = 0; i < vals.length; i++) { text += stagingRow(1 + (i / 1000 | 0), i % 1000, vals[i].value); if (i % 1000 === 999) { n += Buffer.byteLength(text); text = ''; } }
  const tRow = performance.now() - t;
  console.log(`round ${round}: decode+parse ${tParse.toFixed(0)} ms, validate ${tVal.toFixed(0)} ms, stagingRow+toBuffer ${tRow.toFixed(0)} ms per 200k`);
}
