/**
 * Steering vectors for the page: read a vector JSON file, or draw a random unit direction from
 * a seed. Pure functions; the file format is steerlab's vector JSON (src/steering/vector.ts).
 */
import { SteerlabError } from '../errors.js';
import { parseVectorFile } from '../steering/vector.js';
import { Rng } from '../util/rng.js';

export interface VectorFile {
  layer: number;
  hidden: number;
  vector: Float32Array;
  /** Every other top-level field, kept for display (method, model, prompt pairs...). */
  metadata: Record<string, unknown>;
}

export function parseVectorJson(text: string): VectorFile {
  const { layer, hidden, vector, ...metadata } = parseVectorFile(text);
  return { layer, hidden, vector: Float32Array.from(vector), metadata };
}

/** Checks a vector against the loaded model's shape; returns a one-line problem or null. */
export function vectorProblem(v: { layer: number; hidden: number }, model: { layers: number; hidden: number }): string | null {
  if (v.hidden !== model.hidden) return `the vector has ${v.hidden} dimensions; this model's hidden size is ${model.hidden}`;
  if (v.layer >= model.layers) return `the vector is for layer ${v.layer}; this model has layers 0..${model.layers - 1}`;
  return null;
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
