/**
 * A whole comparison as one zip (fflate): each side's trace (JSONL and CSV) and summary, the
 * chart as SVG, and both setups; what a researcher attaches to a note or a bug report.
 */
import { strToU8, zipSync } from 'fflate';
import { formatTrace } from '../trace/jsonl.js';
import { toCsv } from '../trace/csv.js';
import type { StepRecord, SummaryRecord, TraceRecord } from '../trace/schema.js';
import { runsSvg } from './chart-export.js';

export interface ZipSide {
  label: string;
  steps: readonly StepRecord[];
  summary: SummaryRecord | null;
  setup?: unknown;
}

export function comparisonZip(a: ZipSide, b: ZipSide, lnK: number): Uint8Array {
  const files: Record<string, Uint8Array> = {};
  for (const [key, side] of [['A', a], ['B', b]] as const) {
    const records: TraceRecord[] = side.summary ? [...side.steps, side.summary] : [...side.steps];
    files[`${key}.jsonl`] = strToU8(formatTrace(records));
    files[`${key}.csv`] = strToU8(toCsv(records));
    files[`${key}.summary.json`] = strToU8(JSON.stringify(side.summary, null, 2) + '\n');
    if (side.setup) files[`${key}.setup.json`] = strToU8(JSON.stringify(side.setup, null, 2) + '\n');
  }
  files['chart.svg'] = strToU8(runsSvg([{ label: a.label, steps: a.steps }, { label: b.label, steps: b.steps }], lnK));
  files['README.txt'] = strToU8(`steerlab comparison\nA: ${a.label}\nB: ${b.label}\nTraces are steerlab JSONL (one step per line, then the summary); CSV has the same steps.\n`);
  return zipSync(files, { level: 6 });
}
