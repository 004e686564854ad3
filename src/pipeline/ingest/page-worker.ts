// Worker thread entry (piscina): prepares one page per task. The body comes
// in and the rows go out as transferred buffers, not copies.
import { Piscina } from 'piscina';
import { preparePage, type MalformedPage, type PreparedPage } from './prepare-page.js';

export interface PageTask {
  page: number;
  body: Uint8Array;
}

export default function prepare({ page, body }: PageTask): PreparedPage | MalformedPage {
  const prepared = preparePage(page, body);
  if (!prepared.ok) return prepared;
  const { rows } = prepared;
  // A small Buffer is a slice of Node's shared pool, which must not move: copy it out.
  if (rows.byteOffset !== 0 || rows.byteLength !== rows.buffer.byteLength) prepared.rows = new Uint8Array(rows);
  const movable = {
    get [Piscina.transferableSymbol]() {
      return [prepared.rows.buffer];
    },
    get [Piscina.valueSymbol]() {
      return prepared;
    },
  };
  return Piscina.move(movable as unknown as ArrayBufferView) as unknown as PreparedPage;
}
