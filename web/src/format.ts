// How numbers, times and durations read on the dashboard.
const int = new Intl.NumberFormat('en-US');
const money = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });

export const count = (n: number): string => int.format(n);

export const balance = (n: number | null): string => (n === null ? '—' : money.format(n));

export function duration(ms: number | null): string {
  if (ms === null) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${Math.round(s - m * 60)} s`;
}

export const seconds = (s: number | null): string => (s === null ? '—' : duration(s * 1000));

const pad = (n: number) => String(n).padStart(2, '0');

/** The browser's time zone offset at that instant, as `UTC+01:00` (daylight saving included). */
export function zoneOffset(d: Date): string {
  const minutes = -d.getTimezoneOffset();
  const sign = minutes < 0 ? '-' : '+';
  const abs = Math.abs(minutes);
  return `UTC${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/** The browser's time zone name (`Europe/Paris`), for titles. */
export const zoneName = (): string => Intl.DateTimeFormat().resolvedOptions().timeZone;

/** An ISO instant as the browser's local date and time, to the second: `{ date, time, zone }`. */
export function localParts(iso: string): { date: string; time: string; zone: string } {
  const d = new Date(iso);
  return {
    date: `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`,
    time: `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`,
    zone: zoneOffset(d),
  };
}

/** An ISO instant as local date and time with its offset: `2026-12-01 21:52:36 UTC+01:00`. */
export function when(iso: string | null): string {
  if (!iso) return '—';
  const p = localParts(iso);
  return `${p.date} ${p.time} ${p.zone}`;
}

export const orDash = (v: string | null): string => v ?? '—';
