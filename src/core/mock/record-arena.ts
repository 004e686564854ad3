// The mock's records as the bytes it sends: the UTF-8 JSON of each record,
// each followed by a comma, packed into chunks of a few thousand records. A
// page is then one or two subarrays of a chunk, copied once into the answer:
// no string join, no UTF-8 encoding per request.

/** Records per chunk: about 1 MB of the generated records (some 250 bytes each). */
export const CHUNK_RECORDS = 4096;

const COMMA = 0x2c;

interface Chunk {
  /** `json[0],json[1],...json[n-1],` in UTF-8. */
  bytes: Buffer;
  /** Where record j starts; starts[n] is bytes.length, so record j is [starts[j], starts[j+1] - 1). */
  starts: Uint32Array;
}

function pack(json: readonly string[]): Chunk {
  const starts = new Uint32Array(json.length + 1);
  let total = 0;
  for (let j = 0; j < json.length; j++) {
    starts[j] = total;
    total += Buffer.byteLength(json[j]!) + 1;
  }
  starts[json.length] = total;
  const bytes = Buffer.allocUnsafeSlow(total);
  for (let j = 0; j < json.length; j++) {
    bytes.write(json[j]!, starts[j]!);
    bytes[starts[j + 1]! - 1] = COMMA;
  }
  return { bytes, starts };
}

/**
 * `count` records whose JSON text `json(index)` gives, packed a chunk at a
 * time on first use (or all at once with fillAll). The JSON source is let go
 * once every chunk is packed.
 */
export class RecordArena {
  private readonly chunks: (Chunk | undefined)[];
  private unfilled: number;
  private json: ((index: number) => string) | null;

  constructor(
    readonly count: number,
    json: (index: number) => string,
    readonly chunkRecords = CHUNK_RECORDS,
  ) {
    if (!Number.isInteger(chunkRecords) || chunkRecords < 1)
      throw new RangeError(`chunkRecords must be a positive integer, got ${chunkRecords}`);
    this.chunks = new Array<Chunk | undefined>(Math.ceil(count / chunkRecords));
    this.unfilled = this.chunks.length;
    this.json = this.unfilled ? json : null;
  }

  private chunk(k: number): Chunk {
    const have = this.chunks[k];
    if (have) return have;
    const first = k * this.chunkRecords;
    const n = Math.min(this.chunkRecords, this.count - first);
    const json = new Array<string>(n);
    for (let j = 0; j < n; j++) json[j] = this.json!(first + j);
    const packed = pack(json);
    this.chunks[k] = packed;
    if (--this.unfilled === 0) this.json = null;
    return packed;
  }

  /** Packs every chunk now (a file's records: the caller can then let them go). */
  fillAll(): this {
    for (let k = 0; k < this.chunks.length; k++) this.chunk(k);
    return this;
  }

  /** Whether record `index` is already packed (reading it costs no JSON). */
  has(index: number): boolean {
    return this.chunks[Math.floor(index / this.chunkRecords)] !== undefined;
  }

  /** The JSON bytes of record `index` (0 <= index < count), a view into the arena. */
  record(index: number): Buffer {
    const k = Math.floor(index / this.chunkRecords);
    const { bytes, starts } = this.chunk(k);
    const j = index - k * this.chunkRecords;
    return bytes.subarray(starts[j], starts[j + 1]! - 1);
  }

  /**
   * Appends to `out` the JSON of records [start, end) (0 <= start <= end <=
   * count), comma-separated, as views into the arena: one per chunk touched.
   * Every view but the last ends with the comma that separates it from the next.
   */
  pieces(start: number, end: number, out: Buffer[]): Buffer[] {
    if (start >= end) return out;
    const per = this.chunkRecords;
    const last = Math.floor((end - 1) / per);
    for (let k = Math.floor(start / per); k <= last; k++) {
      const { bytes, starts } = this.chunk(k);
      const base = k * per;
      const from = Math.max(start - base, 0);
      const to = Math.min(end - base, starts.length - 1);
      out.push(bytes.subarray(starts[from], k === last ? starts[to]! - 1 : starts[to]!));
    }
    return out;
  }
}
