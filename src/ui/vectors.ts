/**
 * Steering vectors for the page, as ControlVectors (src/steering/control-vector.ts): read from a
 * vector file (format 1 or 2, the same parser as the CLI), or a random unit direction drawn from a
 * seed; checked against the loaded model; and turned into the worker's SteeringWire. Pure functions.
 */
import { SteerlabError } from '../errors.js';
import type { Positions } from '../engine/hook-points.js';
import { ControlVector } from '../steering/control-vector.js';
import { Rng } from '../util/rng.js';
import type { SteeringWire } from '../workers/api.js';

/** A vector file's text as a ControlVector named `id` (the file name on the page, as the CLI names it). */
export function readVectorJson(text: string, id: string): ControlVector {
  return ControlVector.fromJson(text, id);
}

/**
 * A one-layer vector file as plain fields: layer, hidden, vector, and the file's metadata. A
 * multi-layer file is refused (the page itself keeps the whole ControlVector: readVectorJson).
 */
export function parseVectorJson(text: string): { layer: number; hidden: number; vector: Float32Array; metadata: Record<string, unknown> } {
  const v = readVectorJson(text, 'vector');
  if (v.directions.length !== 1) throw new SteerlabError('BAD_VECTOR', `vector file has ${v.directions.length} layers (${v.layers.join(', ')}); expected one`);
  const d = v.directions[0]!;
  const metadata = Object.fromEntries(Object.entries(v.meta).filter(([, x]) => x !== undefined));
  return { layer: d.layer, hidden: v.hidden, vector: d.vector, metadata };
}

/** Why a vector does not fit the loaded model (ControlVector.checkFits' line), or null when it fits. */
export function vectorProblem(v: ControlVector | { layer: number; hidden: number }, model: { layers: number; hidden: number }): string | null {
  const vector = v instanceof ControlVector ? v : ControlVector.single(v.layer, new Float32Array(v.hidden), { id: 'vector' });
  try {
    vector.checkFits(model);
    return null;
  } catch (e) {
    if (e instanceof SteerlabError) return e.message;
    throw e;
  }
}

/** A direction drawn uniformly on the unit sphere (normalised standard normals), reproducible by seed. */
export function randomUnitVector(hidden: number, seed: number | string): Float32Array {
  if (!Number.isInteger(hidden) || hidden < 1) throw new SteerlabError('BAD_ARGUMENT', `hidden size must be a positive integer, got ${hidden}`);
  const rng = new Rng(`steer-direction/${seed}`);
  const v = new Float64Array(hidden);
  let norm = 0;
  for (let i = 0; i < hidden; i++) {
    v[i] = rng.normal();
    norm += v[i]! * v[i]!;
  }
  norm = Math.sqrt(norm);
  return Float32Array.from(v, (x) => x / norm);
}

/** The seeded random unit direction at one layer, named `random-seed-<seed>` in traces. */
export function randomVector(hidden: number, seed: number, layer: number): ControlVector {
  return ControlVector.single(layer, randomUnitVector(hidden, seed), { id: `random-seed-${seed}` });
}

/** The steering as the worker takes it, for generation and episodes alike. */
export function steeringWire(v: ControlVector, beta: number, positions: Positions): SteeringWire {
  return { vector: v.toData(), beta, positions };
}
