/**
 * Sweep output files as runs: a run is its step lines followed by its tagged summary line. A
 * sweep writes runs one after another, so whatever follows the last summary is the run that was
 * in flight when the process stopped; readers drop it (a kill can also cut that last line short).
 */
import { SteerlabError } from '../errors.js';
import { firstIssue } from '../envs/issue.js';
import { traceRecordSchema } from '../trace/schema.js';
import { sweepTagSchema, type TaggedRun } from './sweep-grid.js';

export interface FileRun extends TaggedRun {
  /** The run's lines as written, newlines included. */
  text: string;
}

export interface SweepFile {
  runs: FileRun[];
  /** UTF-8 bytes of the complete runs; the rest is the unfinished tail. */
  keepBytes: number;
  /** Lines after the last complete run (counting a cut-off last line). */
  dropped: number;
}

export function readSweepText(text: string, file: string): SweepFile {
  const runs: FileRun[] = [];
  const bad = (line: number, why: string) => new SteerlabError('BAD_TRACE', `${file} line ${line}: ${why}`);
  let start = 0; // where the current run's first line begins
  let keep = 0;
  let pending: string[] = []; // runIds of the current run's step lines
  let pos = 0;
  let line = 0;
  let dropped = 0;
  while (pos < text.length) {
    const nl = text.indexOf('\n', pos);
    line++;
    if (nl < 0) {
      dropped++; // cut short by a kill: rewritten on resume
      break;
    }
    const raw = text.slice(pos, nl);
    pos = nl + 1;
    if (raw.trim() === '') continue;
    let data: unknown;
    try {
      data = JSON.parse(raw);
    } catch (e) {
      throw bad(line, `not valid JSON (${(e as Error).message})`);
    }
    const r = traceRecordSchema.safeParse(data);
    if (!r.success) throw bad(line, firstIssue(r.error));
    const rec = r.data;
    if (rec.type === 'step') {
      pending.push(rec.runId);
      continue;
    }
    const tag = sweepTagSchema.safeParse(rec.extra?.sweep);
    if (!tag.success) throw bad(line, 'a summary without a sweep tag (extra.sweep): not written by steerlab sweep');
    if (pending.some((id) => id !== rec.runId)) throw bad(line, `summary of run ${rec.runId} follows steps of another run`);
    runs.push({ tag: tag.data, summary: rec, text: text.slice(start, pos) });
    start = keep = pos;
    pending = [];
  }
  dropped += pending.length;
  return { runs, keepBytes: Buffer.byteLength(text.slice(0, keep), 'utf8'), dropped };
}
