// The benchmark's source data: the product's synthetic dataset, and versions
// of it in which every 10th record changed. The mock child serves them; the
// floor builds its COPY text from the very same records.
import type { Customer } from '../src/core/customer.js';
import { datasetFromRecords, generateRecord, generatedDataset, generatedIndex, type Dataset } from '../src/core/mock/dataset.js';

export const SEED = 42;
/** Records per source page: the pipeline's INGEST_PAGE_SIZE default. */
export const PAGE_SIZE = 1000;

/**
 * Record `index` of version `version`: version 0 is the product's generated
 * record; version v > 0 changes the last name of every 10th record, so each
 * new version updates exactly 10% of the rows stored by the previous one.
 */
export function benchRecord(index: number, version: number): Customer {
  const r = generateRecord(SEED, index);
  return version > 0 && index % 10 === 0 ? { ...r, last_name: `${r.last_name}-v${version}` } : r;
}

export function changedCount(size: number): number {
  return Math.ceil(size / 10);
}

/**
 * `generated`: computed per request, as MOCK_GENERATE serves (version 0 is the
 * product's own generatedDataset, so the mock is measured as shipped).
 * `memory`: the same records held pre-serialised, as a MOCK_DATA_FILE is
 * served (datasetFromRecords) — a source that costs almost nothing.
 */
export function benchDataset(size: number, version: number, source: 'generated' | 'memory' = 'generated'): Dataset {
  if (source === 'memory') return datasetFromRecords(Array.from({ length: size }, (_, i) => benchRecord(i, version)));
  if (version === 0) return generatedDataset(size, SEED);
  return {
    size,
    slice(start, end) {
      const out: string[] = [];
      for (let i = Math.max(0, start); i < Math.min(end, size); i++) out.push(JSON.stringify(benchRecord(i, version)));
      return [Buffer.from(out.join(','))];
    },
    get(id) {
      const i = generatedIndex(id);
      return i >= 0 && i < size ? Buffer.from(JSON.stringify(benchRecord(i, version))) : undefined;
    },
  };
}
