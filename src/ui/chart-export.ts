/**
 * Charts as files: PNG from the canvas uPlot drew (what is on screen), SVG redrawn from the same
 * step records by the project's small SVG writer (src/repro/svg.ts, as the result figures), so
 * the vector file needs no canvas and carries the data, not a bitmap.
 */
import { svgPanels, type Panel, type Series } from '../repro/svg.js';
import type { StepRecord } from '../trace/schema.js';
import { downloadBlob, downloadText } from './download.js';

/** The canvas inside a uPlot chart element, as PNG bytes. */
export async function canvasPng(el: HTMLElement): Promise<Blob> {
  const canvas = el.querySelector('canvas');
  if (!canvas) throw new Error('the chart has not been drawn yet');
  // uPlot's canvas has no background: paint white under it so the PNG reads on any viewer.
  const out = document.createElement('canvas');
  out.width = canvas.width;
  out.height = canvas.height;
  const ctx = out.getContext('2d')!;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, out.width, out.height);
  ctx.drawImage(canvas, 0, 0);
  return new Promise((resolve, reject) => out.toBlob((b) => (b ? resolve(b) : reject(new Error('the browser could not encode the PNG'))), 'image/png'));
}

export async function savePng(el: HTMLElement, name: string): Promise<void> {
  downloadBlob(name, await canvasPng(el));
}

const ticks = (n: number) => {
  const every = Math.max(1, Math.ceil(n / 10));
  return Array.from({ length: n }, (_, i) => i).filter((i) => i % every === 0);
};

/** Entropy (format-broken steps left out, never drawn high), valid mass and cumulative regret of one or more runs, as SVG text. */
export function runsSvg(runs: readonly { label: string; steps: readonly StepRecord[] }[], lnK: number): string {
  const colors = ['#d9480f', '#1c7ed6', '#2f9e44', '#7048e8'];
  const n = Math.max(1, ...runs.map((r) => (r.steps.at(-1)?.step ?? 0) + 1));
  const series = (f: (s: StepRecord) => number | null | undefined, dashed = false): Series[] =>
    runs.map((r, i) => ({
      name: r.label,
      color: colors[i % colors.length]!,
      dashed,
      points: r.steps.flatMap((s) => { const y = f(s); return typeof y === 'number' && Number.isFinite(y) ? [{ x: s.step, y }] : []; }),
    }));
  const panels: Panel[] = [
    { title: 'action entropy (format-broken steps left out)', xLabel: 'step', yLabel: 'nats', series: [...series((s) => (s.valid && !s.formatBroken ? s.entropy : null)), { name: 'ln K', color: '#868e96', dashed: true, points: [{ x: 0, y: lnK }, { x: n - 1, y: lnK }] }], yMax: Math.max(lnK * 1.08, 0.05), xTicks: ticks(n) },
    { title: 'valid-answer mass', xLabel: 'step', yLabel: 'mass', series: series((s) => s.validMass, true), yMax: 1.05, xTicks: ticks(n) },
    { title: 'cumulative regret', xLabel: 'step', yLabel: 'regret', series: series((s) => s.cumRegret), yMax: Math.max(1, ...runs.flatMap((r) => r.steps.map((s) => s.cumRegret))) * 1.1, xTicks: ticks(n) },
  ].filter((p) => p.series.some((s) => s.points.length));
  return svgPanels(panels);
}

export function saveSvg(name: string, svg: string): void {
  downloadText(name, svg, 'image/svg+xml');
}
