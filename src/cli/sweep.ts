/**
 * `steerlab sweep`: every layer x temperature x beta x seed, one run each, one table row per
 * cell. --shard k/n plays a fixed part of the grid, --resume keeps the runs already in --out,
 * and --merge joins shard files into the table (and file) the whole sweep would have made.
 */
import { appendFileSync, existsSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { runEpisode } from '../agent/agent.js';
import { POSITIONS } from '../engine/hook-points.js';
import { createEnv } from '../envs/registry.js';
import { SteerlabError } from '../errors.js';
import { aggregate, type Aggregate } from '../metrics/summary.js';
import { loadModel } from '../node/models.js';
import type { ControlVector, SteeringSetting } from '../steering/control-vector.js';
import { formatTraceLine } from '../trace/jsonl.js';
import { boolean, episodeFlags, int, numbers, oneOf, parseFlags, path, print, shard } from './flags.js';
import { gameFrom } from './run.js';
import { DEFAULT_POSITIONS, settingFromFlags } from './steering.js';
import { readSweepText, type FileRun, type SweepFile } from './sweep-file.js';
import { gridFingerprint, gridRuns, inShard, type SweepTag, type TaggedRun } from './sweep-grid.js';

export interface SweepRow {
  layer: number;
  beta: number;
  temperature: number;
  control: string;
  runs: number;
  /** Over choice steps only; n = runs that had any. */
  entropy: Aggregate['entropy'];
  validMass: Aggregate['validMass'];
  /** Steps that were no valid choice; invalidAnswers: the share of answers that failed (sampled: of all completions). */
  invalidRate: Aggregate['invalidRate'];
  invalidAnswers: Aggregate['invalidAnswerRate'];
  regret: Aggregate['regret'];
}

const sweepFlags = {
  ...episodeFlags,
  model: path(),
  vector: path(),
  layers: numbers({ int: true, min: 0 }).optional(),
  betas: numbers().default([0, 1, 2, 4]),
  temperatures: numbers({ min: 0 }).optional(),
  seeds: int({ min: 1 }).default(5),
  out: path().optional(),
  control: oneOf(['none', 'shuffled']).default('none'),
  positions: oneOf(POSITIONS).default(DEFAULT_POSITIONS),
  shard: shard().optional(),
  resume: boolean(),
};

const mergeFlags = { merge: boolean(), out: path().optional() };

/**
 * The vector for each swept layer: a one-layer vector is moved there (atLayer); a multi-layer
 * file gives each listed layer its own direction (the layers must be among the file's).
 */
export function sweepVectors(v: ControlVector, layers: readonly number[] | undefined): Map<number, ControlVector> {
  if (v.layers.length === 1) return new Map((layers ?? v.layers).map((l) => [l, v.atLayer(l)]));
  const missing = (layers ?? []).filter((l) => !v.layers.includes(l));
  if (missing.length) throw new SteerlabError('BAD_ARGUMENT', `--layers ${missing.join(',')}: vector '${v.id}' has layers ${v.layers.join(', ')}; a multi-layer vector cannot be moved, choose --layers among them`);
  return new Map((layers ?? v.layers).map((l) => [l, v.select([l])]));
}

/** A vector's id and numbers (its file's createdAt would differ from process to process). */
const vectorKey = (v: ControlVector) => ({ id: v.id, directions: v.directions.map((d) => ({ layer: d.layer, vector: Array.from(d.vector) })) });

function readFile(file: string, why: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new SteerlabError('BAD_ARGUMENT', `${why}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

export async function sweepCommand(argv: string[]): Promise<void> {
  if (argv.includes('--merge')) return mergeCommand(argv);
  const { values } = parseFlags(argv, sweepFlags, {});
  const { envId, envOptions, scenario } = gameFrom(values);
  const base = settingFromFlags({ vector: values.vector, positions: values.positions })!;
  const control = values.control;
  const vector = control === 'shuffled' ? base.vector.shuffled(() => 'sweep-control') : base.vector;
  const byLayer = sweepVectors(vector, values.layers ? [...new Set(values.layers)] : undefined);
  const temperatures = values.temperatures ?? [values.temperature];
  const { out, shard: part, resume } = values;
  if ((part || resume) && !out) throw new SteerlabError('BAD_ARGUMENT', `--${part ? 'shard' : 'resume'} needs --out FILE (the file is what --resume and --merge read)`);
  // Read what a resumed file holds before the model loads, so a bad file fails fast.
  const previous = resume && existsSync(out!) ? readSweepText(readFile(out!, '--resume'), out!) : null;
  if (out && !previous) writeFileSync(out, '');
  const session = await loadModel(values.model);
  const done = new Map<number, TaggedRun>();
  try {
    for (const v of byLayer.values()) v.checkFits(session.info);
    const grid = gridFingerprint({
      model: session.info.hash, env: envId, envOptions, scenario, horizon: values.horizon ?? null, seed: values.seed, mode: values.mode,
      samples: values.samples ?? null, minValidMass: values['min-valid-mass'], vreason: values.vreason ?? null,
      vectors: [...byLayer.values()].map(vectorKey), positions: base.positions, control, layers: [...byLayer.keys()], temperatures, betas: values.betas, seeds: values.seeds,
    });
    const runs = gridRuns({ layers: [...byLayer.keys()], temperatures, betas: values.betas, seeds: values.seeds, control }, grid);
    if (previous) for (const r of resumeFrom(previous, out!, runs, part)) done.set(r.tag.index, r);
    for (const t of runs) {
      if (!inShard(t.index, part) || done.has(t.index)) continue;
      const steering: SteeringSetting | null = t.beta === 0 ? null : { vector: byLayer.get(t.layer)!, beta: t.beta, positions: base.positions };
      const env = createEnv(envId, { ...envOptions, ...(values.horizon ? { horizon: values.horizon } : {}) });
      const r = await runEpisode(session, env, scenario, values.seed + t.episode, {
        mode: values.mode, samples: values.samples, temperature: t.temperature, minValidMass: values['min-valid-mass'],
        vreason: values.vreason ?? null, horizon: values.horizon, steering,
        onStep: out ? (rec) => appendFileSync(out, formatTraceLine(rec)) : undefined,
      });
      if (!r.summary) continue;
      // The summary line carries the run's grid place: resume and merge need nothing else.
      const summary = { ...r.summary, extra: { ...r.summary.extra, sweep: t } };
      if (out) appendFileSync(out, formatTraceLine(summary));
      done.set(t.index, { tag: t, summary });
      const s = summary.summary;
      process.stderr.write(`run ${t.index + 1}/${t.size} layer ${t.layer} T ${t.temperature} beta ${t.beta} seed ${values.seed + t.episode}: entropy ${s.entropy?.toFixed(3) ?? '-'} valid mass ${s.validMass?.toFixed(3) ?? '-'} invalid ${s.invalidRate.toFixed(2)}\n`);
    }
  } finally {
    await session.dispose();
  }
  printSweep([...done.values()]);
}

/** The runs of a resumed file, checked against this sweep's grid; cuts off an unfinished last run. */
function resumeFrom(file: SweepFile, out: string, runs: readonly SweepTag[], part: { k: number; n: number } | undefined): FileRun[] {
  for (const r of file.runs) {
    const want = runs[r.tag.index];
    const same = want && (Object.keys(want) as (keyof SweepTag)[]).every((k) => want[k] === r.tag[k]);
    if (!same) throw new SteerlabError('BAD_ARGUMENT', `--resume: ${out} was written by a different sweep (other model, flags or vector); use another --out or drop --resume`);
    // Without --shard every run is the sweep's own: a shard's file can be finished as a whole sweep.
    if (!inShard(r.tag.index, part)) throw new SteerlabError('BAD_ARGUMENT', `--resume: ${out} holds grid run ${r.tag.index}, which is not in --shard ${part!.k}/${part!.n}: resume with the --shard that wrote it`);
  }
  if (file.dropped) truncateSync(out, file.keepBytes);
  process.stderr.write(`resume: ${file.runs.length} runs already in ${out}${file.dropped ? `; dropped ${file.dropped} lines of an unfinished run` : ''}\n`);
  return file.runs;
}

/** `sweep --merge a.jsonl b.jsonl ... [--out all.jsonl]`: every run of the grid, once, in grid order. */
async function mergeCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseFlags(argv, mergeFlags, { required: ['shard.jsonl'], rest: true });
  const byIndex = new Map<number, FileRun & { file: string }>();
  let first: (FileRun & { file: string }) | undefined;
  for (const f of positionals) {
    for (const r of readSweepText(readFile(f, '--merge'), f).runs) {
      first ??= { ...r, file: f };
      if (r.tag.grid !== first.tag.grid || r.tag.size !== first.tag.size) throw new SteerlabError('BAD_TRACE', `--merge: ${f} and ${first.file} come from different sweeps (grid ${r.tag.grid} vs ${first.tag.grid})`);
      const seen = byIndex.get(r.tag.index);
      // The same run twice (a file named twice, a shard rerun) is fine if it gave the same result.
      if (seen && JSON.stringify(seen.summary) !== JSON.stringify(r.summary)) throw new SteerlabError('BAD_TRACE', `--merge: grid run ${r.tag.index} differs between ${seen.file} and ${f}`);
      if (!seen) byIndex.set(r.tag.index, { ...r, file: f });
    }
  }
  if (!first) throw new SteerlabError('BAD_TRACE', `--merge: no finished runs in ${positionals.join(', ')}`);
  const missing = [...Array(first.tag.size).keys()].filter((i) => !byIndex.has(i));
  if (missing.length) {
    const list = missing.slice(0, 10).join(', ') + (missing.length > 10 ? ', ...' : '');
    throw new SteerlabError('BAD_TRACE', `--merge: ${missing.length} of ${first.tag.size} runs missing (grid index ${list}); finish their shards with --resume`);
  }
  const merged = [...byIndex.values()].sort((a, b) => a.tag.index - b.tag.index);
  if (values.out) writeFileSync(values.out, merged.map((r) => r.text).join(''));
  printSweep(merged);
}

/** One row per cell, in grid order, aggregated over the cell's runs in seed order. */
export function sweepRows(runs: readonly TaggedRun[]): SweepRow[] {
  const cells = new Map<number, TaggedRun[]>();
  for (const r of [...runs].sort((a, b) => a.tag.index - b.tag.index)) cells.set(r.tag.cell, [...(cells.get(r.tag.cell) ?? []), r]);
  return [...cells.values()].map((rs) => {
    const { layer, beta, temperature, control } = rs[0]!.tag;
    const agg = aggregate(rs.map((r) => r.summary.summary));
    return { layer, beta, temperature, control, runs: rs.length, entropy: agg.entropy, validMass: agg.validMass, invalidRate: agg.invalidRate, invalidAnswers: agg.invalidAnswerRate, regret: agg.regret };
  });
}

/** The table, then one JSON line: rows and, per layer and temperature, the beta where answers break. */
function printSweep(runs: readonly TaggedRun[]): void {
  const rows = sweepRows(runs);
  const ci = (x: SweepRow['entropy']) => (Number.isNaN(x.mean) ? '-' : `${x.mean.toFixed(3)} [${x.lo?.toFixed(3) ?? '-'}, ${x.hi?.toFixed(3) ?? '-'}]`);
  print(['layer\ttemp\tbeta\truns\tentropy over choice steps (95% CI)\tvalid mass (95% CI)\tinvalid rate (95% CI)\tregret (95% CI)', ...rows.map((r) => `${r.layer}\t${r.temperature}\t${r.beta}\t${r.runs}\t${ci(r.entropy)}\t${ci(r.validMass)}\t${ci(r.invalidRate)}\t${ci(r.regret)}`)].join('\n'));
  // Calibration: per layer and temperature, the smallest beta at which half the answers are invalid
  // (sampled: of all completions; exact/thought: format-broken steps).
  const breaksAt = [...new Set(rows.map((r) => `${r.layer}|${r.temperature}`))].map((k) => {
    const [layer, temperature] = k.split('|').map(Number);
    const hit = rows.filter((r) => r.layer === layer && r.temperature === temperature).sort((a, b) => a.beta - b.beta).find((r) => r.invalidAnswers.mean >= 0.5);
    return { layer, temperature, beta: hit ? hit.beta : null };
  });
  print(JSON.stringify({ rows, breaksAt }));
}
