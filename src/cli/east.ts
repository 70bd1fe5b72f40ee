/** `steerlab east`, `steerlab vector export|import|info`. */
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { collectEastRuns, vectorFromRuns } from '../agent/east-collect.js';
import { SteerlabError } from '../errors.js';
import { loadModel } from '../node/models.js';
import { ControlVector, VECTOR_METHODS, l2 } from '../steering/control-vector.js';
import { formatTraceLine } from '../trace/jsonl.js';
import { episodeFlags, int, numbers, oneOf, parseFlags, path, print, text } from './flags.js';
import { gameFrom } from './run.js';
import { readVector } from './steering.js';

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

// The sweep lives in sweep.ts; re-exported for existing imports.
export { sweepCommand, sweepVectors, type SweepRow } from './sweep.js';
