// Pictures of recent runs, drawn as SVG by hand (no chart library: three
// small charts of at most a few dozen runs each need scales, ticks and
// rectangles, nothing more). Colours come from style.css classes; every mark
// has a <title> (the browser's tooltip) and links to its run's page.
import type { ComponentChildren } from 'preact';
import { useLayoutEffect, useRef, useState } from 'preact/hooks';
import type { Run } from './api';
import { count, duration, when } from './format';
import { runHref } from './route';

/** The outcome series of the stacked bars, bottom up. */
export const OUTCOME_SERIES = ['inserted', 'updated', 'unchanged', 'deleted', 'rejected'] as const;

/** Records per second of a finished run: what it fetched over its wall time. */
export function recordsPerSecond(run: Run): number | null {
  return run.duration_ms ? run.fetched / (run.duration_ms / 1000) : null;
}

/** Round tick steps (1, 2, 5 × 10ⁿ) from 0 to at least max. */
export function niceTicks(max: number, target = 4): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const ticks: number[] = [];
  for (let v = 0; v < max + step * 1e-9; v += step) ticks.push(v);
  if (ticks[ticks.length - 1]! < max) ticks.push(ticks[ticks.length - 1]! + step);
  return ticks;
}

const short = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });

function useWidth<T extends Element>(): [{ current: T | null }, number] {
  const ref = useRef<T>(null);
  const [width, setWidth] = useState(0);
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    const ro = new ResizeObserver(([entry]) => setWidth(Math.floor(entry!.contentRect.width)));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  return [ref, width];
}

const M = { left: 48, right: 10, top: 10, bottom: 22 };

/** A frame with the y axis (grid lines and labels) and the x labels (run numbers) of `runs`. */
function Frame(props: {
  width: number;
  height: number;
  runs: Run[];
  ticks: number[];
  tickLabel: (v: number) => string;
  label: string;
  testid: string;
  children: ComponentChildren;
}) {
  const { width, height, runs, ticks } = props;
  const plotH = height - M.top - M.bottom;
  const top = ticks[ticks.length - 1]!;
  const y = (v: number) => M.top + plotH - (v / top) * plotH;
  const slot = (width - M.left - M.right) / runs.length;
  // A label every few runs, so that they never collide (about 44 px each).
  const every = Math.max(1, Math.ceil(44 / slot));
  return (
    <svg width={width} height={height} role="img" aria-label={props.label} data-testid={props.testid} class="chart">
      {ticks.map((t) => (
        <g key={t} class="tick">
          <line x1={M.left} x2={width - M.right} y1={y(t)} y2={y(t)} />
          <text x={M.left - 6} y={y(t)} dy="0.32em" text-anchor="end">
            {props.tickLabel(t)}
          </text>
        </g>
      ))}
      {runs.map((r, i) =>
        (runs.length - 1 - i) % every === 0 ? (
          <text
            key={r.id}
            class={`x-label${r.status === 'failed' ? ' failed' : ''}`}
            x={M.left + (i + 0.5) * slot}
            y={height - 6}
            text-anchor="middle"
          >
            #{r.id}
          </text>
        ) : null,
      )}
      {props.children}
    </svg>
  );
}

function LineChart(props: {
  runs: Run[];
  width: number;
  value: (r: Run) => number | null;
  tickLabel: (v: number) => string;
  title: (r: Run) => string;
  label: string;
  testid: string;
  cls: string;
}) {
  const { runs, width } = props;
  const height = 170;
  const values = runs.map(props.value);
  const ticks = niceTicks(Math.max(0, ...values.map((v) => v ?? 0)));
  const top = ticks[ticks.length - 1]!;
  const plotH = height - M.top - M.bottom;
  const slot = (width - M.left - M.right) / runs.length;
  const x = (i: number) => M.left + (i + 0.5) * slot;
  const y = (v: number) => M.top + plotH - (v / top) * plotH;
  // One polyline per stretch of runs with a value (a running run leaves a gap).
  const stretches: string[] = [];
  let current: string[] = [];
  values.forEach((v, i) => {
    if (v === null) {
      if (current.length) stretches.push(current.join(' '));
      current = [];
    } else current.push(`${x(i).toFixed(1)},${y(v).toFixed(1)}`);
  });
  if (current.length) stretches.push(current.join(' '));
  return (
    <Frame width={width} height={height} runs={runs} ticks={ticks} tickLabel={props.tickLabel} label={props.label} testid={props.testid}>
      <g class={`series ${props.cls}`}>
        {stretches.map((pts, i) => (
          <polyline key={i} points={pts} />
        ))}
        {values.map((v, i) =>
          v === null ? null : (
            <a key={runs[i]!.id} href={runHref(runs[i]!.id)} class={`point${runs[i]!.status === 'failed' ? ' failed' : ''}`}>
              <circle cx={x(i)} cy={y(v)} r={runs.length > 40 ? 2.5 : 3.5} />
              <title>{props.title(runs[i]!)}</title>
            </a>
          ),
        )}
      </g>
    </Frame>
  );
}

function OutcomeBars({ runs, width }: { runs: Run[]; width: number }) {
  const series = OUTCOME_SERIES;
  const height = 200;
  const totals = runs.map((r) => series.reduce((sum, s) => sum + r[s], 0));
  const ticks = niceTicks(Math.max(0, ...totals));
  const top = ticks[ticks.length - 1]!;
  const plotH = height - M.top - M.bottom;
  const slot = (width - M.left - M.right) / runs.length;
  const barW = Math.max(2, Math.min(36, slot * 0.7));
  return (
    <Frame
      width={width}
      height={height}
      runs={runs}
      ticks={ticks}
      tickLabel={(v) => short.format(v)}
      label="Records per run by outcome"
      testid="chart-outcomes"
    >
      {runs.map((r, i) => {
        let base = 0;
        const tags = `${r.dry_run ? ', a dry run: nothing written' : ''}${r.reverts !== null ? `, the revert of #${r.reverts}` : ''}`;
        const title = `Run #${r.id} (${r.status}${r.status === 'failed' ? ': nothing merged' : ''}${tags}), ${when(r.started_at)}\n${series.map((s) => `${s}: ${count(r[s])}`).join('\n')}`;
        return (
          <a key={r.id} href={runHref(r.id)} class={`bar-run${r.dry_run ? ' dry' : ''}`} data-run={r.id}>
            <title>{title}</title>
            {/* The whole slot is the link's target, not only the coloured part. */}
            <rect class="hit" x={M.left + i * slot} y={M.top} width={slot} height={plotH} />
            {series.map((s) => {
              const n = r[s];
              if (n <= 0) return null;
              const h = (n / top) * plotH;
              const rect = (
                <rect
                  key={s}
                  class={`s-${s}`}
                  data-series={s}
                  x={M.left + i * slot + (slot - barW) / 2}
                  y={M.top + plotH - ((base + n) / top) * plotH}
                  width={barW}
                  height={h}
                />
              );
              base += n;
              return rect;
            })}
            {/* A failed run merged nothing: a red mark where its bar would be. */}
            {r.status === 'failed' && (
              <rect class="failed-mark" x={M.left + i * slot + (slot - barW) / 2} y={M.top + plotH - 3} width={barW} height={3} />
            )}
          </a>
        );
      })}
    </Frame>
  );
}

function Legend() {
  return (
    <ul class="legend">
      {OUTCOME_SERIES.map((s) => (
        <li key={s}>
          <span class={`swatch s-${s}`} />
          {s}
        </li>
      ))}
    </ul>
  );
}

/** The charts of `runs` (newest first, as the API lists them): drawn oldest to newest. */
export function RunCharts({ runs: newestFirst }: { runs: Run[] }) {
  const finished = [...newestFirst].reverse().filter((r) => r.status !== 'running');
  if (!finished.length) return <p class="muted">No finished run yet: the charts start with the first.</p>;
  return <Charts finished={finished} />;
}

function Charts({ finished }: { finished: Run[] }) {
  const [ref, width] = useWidth<HTMLDivElement>();
  const [halfRef, half] = useWidth<HTMLDivElement>();
  const tip = (r: Run) =>
    `Run #${r.id} (${r.status}), ${when(r.started_at)}\n${duration(r.duration_ms)}, ${count(Math.round(recordsPerSecond(r) ?? 0))} records/s`;
  return (
    <div class="charts" data-testid="run-charts">
      <figure class="chart-box">
        <figcaption>Duration</figcaption>
        <div ref={halfRef} class="chart-area">
          {half > 0 && (
            <LineChart
              runs={finished}
              width={half}
              value={(r) => (r.duration_ms === null ? null : r.duration_ms / 1000)}
              tickLabel={(v) => `${short.format(v)} s`}
              title={tip}
              label="Duration of each run, in seconds"
              testid="chart-duration"
              cls="s-duration"
            />
          )}
        </div>
      </figure>
      <figure class="chart-box">
        <figcaption>Records per second</figcaption>
        <div class="chart-area">
          {half > 0 && (
            <LineChart
              runs={finished}
              width={half}
              value={recordsPerSecond}
              tickLabel={(v) => short.format(v)}
              title={tip}
              label="Records fetched per second of each run"
              testid="chart-rate"
              cls="s-rate"
            />
          )}
        </div>
      </figure>
      <figure class="chart-box wide">
        <figcaption>
          Records per run <Legend />
        </figcaption>
        <div ref={ref} class="chart-area">
          {width > 0 && <OutcomeBars runs={finished} width={width} />}
        </div>
      </figure>
    </div>
  );
}
