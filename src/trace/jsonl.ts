/**
 * Reading and writing trace text. Pure string functions: file and network IO stay with the caller,
 * so the same code runs in the browser and the CLI.
 */
import { SteerlabError } from '../errors.js';
import { firstIssue } from '../envs/issue';
import { summarizeRun } from '../metrics/summary';
import { traceRecordSchema, type RunConfig, type StepRecord, type SummaryRecord, type TraceRecord } from './schema';

/** Parses JSONL trace text; blank lines are skipped; errors name the 1-based line and the field. */
export function parseTrace(text: string): TraceRecord[] {
  const records: TraceRecord[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let data: unknown;
    try {
      data = JSON.parse(line);
    } catch (e) {
      throw new SteerlabError('BAD_TRACE', `line ${i + 1}: not valid JSON (${(e as Error).message})`);
    }
    const parsed = traceRecordSchema.safeParse(data);
    if (!parsed.success) throw new SteerlabError('BAD_TRACE', `line ${i + 1}: ${firstIssue(parsed.error)}`);
    records.push(parsed.data);
  });
  return records;
}

/** One validated JSONL line, newline included. Validating on write keeps bad traces from being saved. */
export function formatTraceLine(record: TraceRecord): string {
  const parsed = traceRecordSchema.safeParse(record);
  if (!parsed.success) {
    const what = typeof record === 'object' && record && 'type' in record ? `${String(record.type)} record` : 'record';
    throw new SteerlabError('BAD_TRACE', `${what}: ${firstIssue(parsed.error)}`);
  }
  return `${JSON.stringify(parsed.data)}\n`;
}

export function formatTrace(records: readonly TraceRecord[]): string {
  return records.map(formatTraceLine).join('');
}

/** The summary line for a finished run, computed from its step lines. */
export function summaryRecordFor(runId: string, config: RunConfig, steps: readonly StepRecord[], numActions?: number): SummaryRecord {
  if (steps.length === 0) throw new SteerlabError('BAD_TRACE', `run ${runId}: a summary needs at least one step`);
  const K = numActions ?? steps.find((s) => s.actionProbs)?.actionProbs!.length;
  if (K === undefined) throw new SteerlabError('BAD_TRACE', `run ${runId}: no step has an action distribution, so the number of actions is unknown`);
  return { type: 'summary', runId, config, steps: steps.length, numActions: K, summary: summarizeRun(steps, { numActions: K, horizon: config.horizon }) };
}

export interface RunRecords {
  runId: string;
  steps: StepRecord[];
  summary: SummaryRecord | null;
}

/** Groups records by runId in first-seen order, steps sorted by step index. */
export function splitRuns(records: readonly TraceRecord[]): RunRecords[] {
  const runs = new Map<string, RunRecords>();
  for (const r of records) {
    let run = runs.get(r.runId);
    if (!run) runs.set(r.runId, (run = { runId: r.runId, steps: [], summary: null }));
    if (r.type === 'step') run.steps.push(r);
    else run.summary = r;
  }
  for (const run of runs.values()) run.steps.sort((a, b) => a.step - b.step);
  return [...runs.values()];
}
