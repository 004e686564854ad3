// `customer-pipeline generate <n>`: a synthetic dataset file for the mock
// (MOCK_DATA_FILE), the same records MOCK_GENERATE serves, optionally with
// some that break the schema (to see rejected records).
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import { generateRecord } from '../core/mock/dataset.js';
import { CliError, EXIT, out, printJson } from './output.js';

/** Ways a record breaks the schema (src/core/customer.ts), one per invalid record in turn. */
const BREAKS: ((r: Record<string, unknown>) => void)[] = [
  (r) => (r.email = 'not-an-email'),
  (r) => (r.date_of_birth = '1990-02-30'),
  (r) => delete r.last_name,
  (r) => (r.account_balance = 12.345),
  (r) => (r.phone = '+1-555-0100-0100-0100-0100'),
  (r) => (r.created_at = 'yesterday'),
];

export interface GenerateOptions {
  out?: string;
  seed: number;
  invalid: number;
  json?: boolean;
}

export async function generateCommand(n: number, opts: GenerateOptions): Promise<void> {
  if (opts.invalid > n) throw new CliError(`--invalid (${opts.invalid}) cannot exceed the record count (${n})`, EXIT.usage);
  const file = path.resolve(opts.out ?? `customers-${n}.json`);
  const bad = new Set<number>();
  for (let j = 0; j < opts.invalid; j++) bad.add(Math.floor(((j + 0.5) * n) / opts.invalid));

  const stream = createWriteStream(file);
  const opened = once(stream, 'open').catch((err: NodeJS.ErrnoException) => {
    throw new CliError(`cannot write ${file}: ${err.code ?? err.message}`, EXIT.failed);
  });
  await opened;
  let badIndex = 0;
  let chunk = '[\n';
  for (let i = 0; i < n; i++) {
    const record = generateRecord(opts.seed, i) as unknown as Record<string, unknown>;
    if (bad.has(i)) BREAKS[badIndex++ % BREAKS.length]!(record);
    chunk += `${i ? ',\n' : ''}  ${JSON.stringify(record)}`;
    if (chunk.length > 1 << 16) {
      if (!stream.write(chunk)) await once(stream, 'drain');
      chunk = '';
    }
  }
  stream.end(`${chunk}\n]\n`);
  await finished(stream);
  const bytes = (await stat(file)).size;
  if (opts.json) printJson({ file, records: n, invalid: bad.size, seed: opts.seed, bytes });
  else {
    out(`wrote ${n.toLocaleString('en-US')} records (${bad.size} invalid) to ${file} (${(bytes / 1024 / 1024).toFixed(1)} MiB)`);
    out(`serve it with: ${bad.size ? 'MOCK_DATA_STRICT=false ' : ''}MOCK_DATA_FILE=${file} customer-pipeline mock`);
  }
}
