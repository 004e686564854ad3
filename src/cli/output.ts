// How the CLI writes: tables (cli-table3), colour only on a terminal (and
// never with NO_COLOR), one JSON object with --json, one-line errors.
import { styleText } from 'node:util';
import Table from 'cli-table3';

/** Exit codes: the CLI's contract with scripts. */
export const EXIT = { ok: 0, failed: 1, usage: 2, conflict: 3 } as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failed,
    /** What --json prints for this failure (one object on stdout); 'printed' when it is out already. */
    readonly json: Record<string, unknown> | 'printed' | null = null,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export const isTerminal = (): boolean => process.stdout.isTTY === true;
// NO_COLOR and TERM are the terminal's conventions (no-color.org), not settings of the service.
export const useColour = (): boolean => isTerminal() && !process.env.NO_COLOR && process.env.TERM !== 'dumb';

type Colour = 'green' | 'red' | 'yellow' | 'cyan' | 'dim' | 'bold';
export const paint = (colour: Colour, text: string): string => (useColour() ? styleText(colour, text) : text);

export function status(s: string): string {
  return paint(s === 'succeeded' || s === 'success' ? 'green' : s === 'failed' ? 'red' : 'yellow', s);
}

export function out(line = ''): void {
  process.stdout.write(`${line}\n`);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** A table with a header row; numbers right-aligned. */
export function table(head: string[], rows: (string | number)[][], opts: { align?: ('left' | 'right')[] } = {}): string {
  const t = new Table({
    head: head.map((h) => paint('bold', h)),
    colAligns: opts.align,
    style: { head: [], border: [], compact: true },
  });
  t.push(...rows.map((r) => r.map((c) => (typeof c === 'number' ? c.toLocaleString('en-US') : c))));
  return t.toString();
}

/** A two-column table: name, value. */
export function keyValues(rows: [string, string | number][]): string {
  const t = new Table({ style: { head: [], border: [], compact: true }, colAligns: ['left', 'right'] });
  t.push(...rows.map(([k, v]) => [k, typeof v === 'number' ? v.toLocaleString('en-US') : v]));
  return t.toString();
}

export function duration(ms: number | null): string {
  if (ms === null) return '-';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${Math.round(s - m * 60)} s`;
}

export const truncate = (s: string, n: number): string => (s.length <= n ? s : `${s.slice(0, n - 1)}…`);
