/** Public surface of the trace format: schemas, JSONL reading/writing, CSV export. */
export {
  runSteeringSchema,
  runConfigSchema,
  stepRecordSchema,
  summaryRecordSchema,
  traceRecordSchema,
  type RunSteering,
  type RunConfig,
  type StepRecord,
  type SummaryRecord,
  type TraceRecord,
} from './schema';
export { parseTrace, formatTraceLine, formatTrace, summaryRecordFor, splitRuns, type RunRecords } from './jsonl';
export { toCsv, STEP_COLUMNS, SUMMARY_COLUMNS } from './csv';
