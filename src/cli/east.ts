/** `steerlab east`, `steerlab vector export|import|info`, `steerlab sweep`. */
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { collectEastRuns, vectorFromRuns } from '../agent/east-collect.js';
import { SteerlabError } from '../errors.js';
import { POSITIONS } from '../engine/hook-points.js';
import { aggregate, type Aggregate } from '../metrics/summary.js';
import { loadModel } from '../node/models.js';
import { ControlVector, VECTOR_METHODS, l2, type SteeringSetting } from '../steering/control-vector.js';
import { formatTraceLine } from '../trace/jsonl.js';
import { episodeFlags, int, numbers, oneOf, parseFlags, path, print, text } from './flags.js';
import { gameFrom, runLlmEpisodes } from './run.js';
import { DEFAULT_POSITIONS, readVector, settingFromFlags } from './steering.js';

/** Per layer: the direction's norm, the typical residual norm there, and their ratio. */
export function layerNorms(v: ControlVector) {
  return v.directions.map((d) => ({ layer: d.layer, norm: l2(d.vector), residNorm: d.residNorm ?? null, relative: v.relativeNorm(d.layer) }));
}

export const Z_POSITIONS = ['last-prompt', 'last-prefix'] as const;

const eastFlags = {
  ...episodeFlags,
  model: path(),
  episodes: int({ min: 1 }).default(10),
  layer: numbers({ int: true, min: 0 }),
  method: oneOf(VECTOR_METHODS).default('east'),
  position: oneOf(Z_POSITIONS).default('last-prompt'),
  out: path(),
  trace: path().optional(),
};

export async function eastCommand(argv: string[]): Promise<void> {
  const { values } = parseFlags(argv, eastFlags, {});
  const { envId, envOptions, scenario } = gameFrom(values);
  const layers = [...new Set(values.layer)];
  const { method, position: zPosition, out, trace } = values;
  if (values.vreason) throw new SteerlabError('BAD_ARGUMENT', '--vreason applies to run, sweep and generate, not to collecting an EAST vector');
  if (trace) writeFileSync(trace, '');
  const session = await loadModel(values.model);
  try {
    for (const l of layers) if (l >= session.info.layers) throw new SteerlabError('BAD_ARGUMENT', `--layer ${l} is outside 0..${session.info.layers - 1}`);
    const c = await collectEastRuns(session, {
      envId,
      envOptions,
      scenario,
      episodes: values.episodes,
      horizon: values.horizon,
      seed: values.seed,
      layers,
      zPosition,
      mode: values.mode,
      samples: values.samples,
      temperature: values.temperature,
      minValidMass: values['min-valid-mass'],
      onStep: trace ? (r) => appendFileSync(trace, formatTraceLine(r)) : undefined,
      onEpisode: (k, n) => process.stderr.write(`episode ${k + 1}: ${n} steps\n`),
    });
    // One file holds every layer's direction (steerlab.vector/2).
    const vector = vectorFromRuns(session, c, method, { env: envId, scenario: values.scenario ?? null, position: zPosition });
    writeFileSync(out, vector.toJson());
    print(JSON.stringify({ out, method, steps: c.steps, layers: layerNorms(vector) }));
  } finally {
    await session.dispose();
  }
}

const vectorShapes = {
  export: { gguf: path(), 'model-hint': text().default('llama') },
  import: { out: path(), layer: int({ min: 0 }).optional() },
  info: {},
};

export async function vectorCommand(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub === 'export') {
    const { values, positionals } = parseFlags(rest, vectorShapes.export, { required: ['vector.json'] });
    const v = readVector(positionals[0]!);
    writeFileSync(values.gguf, v.toGguf(values['model-hint']));
    print(JSON.stringify({ layers: v.layers, directions: v.layers.map((l) => `direction.${l}`), hidden: v.hidden }));
    return;
  }
  if (sub === 'import') {
    const { values, positionals } = parseFlags(rest, vectorShapes.import, { required: ['in.gguf'] });
    const input = positionals[0]!;
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(readFileSync(input));
    } catch (e) {
      throw new SteerlabError('BAD_ARGUMENT', `cannot read ${input}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    let v = ControlVector.fromGguf(bytes, basename(input));
    if (values.layer !== undefined) {
      if (!v.layers.includes(values.layer)) throw new SteerlabError('BAD_VECTOR', `no direction.${values.layer} in ${input} (has layers ${v.layers.join(', ')})`);
      v = v.select([values.layer]);
    }
    writeFileSync(values.out, v.toJson());
    print(JSON.stringify({ layers: layerNorms(v).map(({ layer, norm }) => ({ layer, norm })), hidden: v.hidden }));
    return;
  }
  if (sub === 'info') {
    const { positionals } = parseFlags(rest, vectorShapes.info, { required: ['vector.json'] });
    const v = readVector(positionals[0]!);
    print(JSON.stringify({ hidden: v.hidden, method: v.meta.method ?? null, model: v.meta.model ?? null, sourceRuns: v.meta.sourceRuns?.length ?? 0, layers: layerNorms(v) }));
    return;
  }
  throw new SteerlabError('BAD_ARGUMENT', `unknown 'vector' subcommand '${sub ?? ''}' (export, import, info)`);
}

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
};

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

export async function sweepCommand(argv: string[]): Promise<void> {
  const { values } = parseFlags(argv, sweepFlags, {});
  const { envId, envOptions, scenario } = gameFrom(values);
  const base = settingFromFlags({ vector: values.vector, positions: values.positions })!;
  const control = values.control;
  const vector = control === 'shuffled' ? base.vector.shuffled(() => 'sweep-control') : base.vector;
  const byLayer = sweepVectors(vector, values.layers ? [...new Set(values.layers)] : undefined);
  const temps = values.temperatures ?? [values.temperature];
  const out = values.out;
  if (out) writeFileSync(out, '');
  const session = await loadModel(values.model);
  const rows: SweepRow[] = [];
  try {
    for (const v of byLayer.values()) v.checkFits(session.info);
    for (const [layer, v] of byLayer) for (const temperature of temps) for (const beta of values.betas) {
      const steering: SteeringSetting | null = beta === 0 ? null : { vector: v, beta, positions: base.positions };
      const summaries = await runLlmEpisodes({
        session, envId, envOptions, scenario,
        episodes: values.seeds, horizon: values.horizon, seed: values.seed,
        mode: values.mode, samples: values.samples, temperature, minValidMass: values['min-valid-mass'], vreason: values.vreason ?? null, steering, out,
      });
      const agg = aggregate(summaries.map((s) => s.summary));
      const row: SweepRow = { layer, beta, temperature, control, runs: summaries.length, entropy: agg.entropy, validMass: agg.validMass, invalidRate: agg.invalidRate, invalidAnswers: agg.invalidAnswerRate, regret: agg.regret };
      rows.push(row);
      process.stderr.write(`layer ${layer} T ${temperature} beta ${beta}: entropy ${agg.entropy.mean.toFixed(3)} valid mass ${agg.validMass.mean.toFixed(3)} invalid ${agg.invalidRate.mean.toFixed(2)}\n`);
    }
  } finally {
    await session.dispose();
  }
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
