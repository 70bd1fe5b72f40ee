/**
 * CSV export of traces (RFC 4180 quoting), one row per step or one row per run summary, for
 * spreadsheets and pandas. actionProbs is joined with ';' and timings kept as a JSON cell.
 */
import { METRIC_KEYS } from '../metrics/summary';
import type { RunConfig, StepRecord, SummaryRecord, TraceRecord } from './schema';

type Cell = string | number | boolean | null | undefined;

function csvCell(value: Cell): string {
  if (value === null || value === undefined) return '';
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function csvRows(header: readonly string[], rows: readonly Cell[][]): string {
  return [header, ...rows].map((row) => row.map(csvCell).join(',')).join('\r\n') + '\r\n';
}

const CONFIG_COLUMNS = ['runId', 'env', 'scenario', 'seed', 'policy', 'mode', 'modelId', 'modelHash', 'vectorId', 'configLayer', 'configBeta'];

function configCells(runId: string, c: RunConfig): Cell[] {
  return [runId, c.env, c.scenario, c.seed, c.policy, c.mode, c.modelId, c.modelHash, c.steering?.vectorId, c.steering?.layer, c.steering?.beta];
}

export const STEP_COLUMNS = [
  ...CONFIG_COLUMNS,
  'step',
  'action',
  'actionLabel',
  'valid',
  'reward',
  'regret',
  'cumRegret',
  'entropy',
  'validMass',
  'formatBroken',
  'done',
  'steeringLayer',
  'steeringBeta',
  'promptTokens',
  'actionProbs',
  'completion',
  'timings',
];

export const SUMMARY_COLUMNS = [...CONFIG_COLUMNS, 'steps', 'numActions', ...METRIC_KEYS];

function stepRow(r: StepRecord): Cell[] {
  return [
    ...configCells(r.runId, r.config),
    r.step,
    r.action,
    r.actionLabel,
    r.valid,
    r.reward,
    r.regret,
    r.cumRegret,
    r.entropy,
    r.validMass,
    r.formatBroken ?? false,
    r.done,
    r.steering?.layer,
    r.steering?.beta,
    r.promptTokens,
    r.actionProbs?.join(';') ?? '',
    r.completion,
    JSON.stringify(r.timings),
  ];
}

function summaryRow(r: SummaryRecord): Cell[] {
  return [...configCells(r.runId, r.config), r.steps, r.numActions, ...METRIC_KEYS.map((k) => r.summary[k])];
}

/** CSV of the step lines ('steps', default) or of the summary lines ('summaries'). */
export function toCsv(records: readonly TraceRecord[], which: 'steps' | 'summaries' = 'steps'): string {
  if (which === 'steps') {
    return csvRows(STEP_COLUMNS, records.flatMap((r) => (r.type === 'step' ? [stepRow(r)] : [])));
  }
  return csvRows(SUMMARY_COLUMNS, records.flatMap((r) => (r.type === 'summary' ? [summaryRow(r)] : [])));
}
