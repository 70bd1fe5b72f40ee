/** Steering in the CLI: a vector file becomes a ControlVector, and flags become a SteeringSetting. */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { Positions } from '../engine/hook-points.js';
import { SteerlabError } from '../errors.js';
import { ControlVector, type SteeringSetting } from '../steering/control-vector.js';

/** Where generate, run and sweep add the vector unless --positions says otherwise. */
export const DEFAULT_POSITIONS: Positions = 'generated';

/** Reads a steerlab vector file (format 1 or 2); its id is the file's base name. */
export function readVector(path: string): ControlVector {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new SteerlabError('BAD_ARGUMENT', `cannot read vector file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    return ControlVector.fromJson(text, basename(path));
  } catch (e) {
    if (e instanceof SteerlabError) throw new SteerlabError(e.code, `${path}: ${e.message}`);
    throw e;
  }
}

export interface SteeringValues {
  vector?: string;
  layer?: number;
  beta?: number;
  positions?: Positions;
}

/**
 * --vector FILE [--layer L] [--beta B] [--positions P] as a setting (null without --vector).
 * --layer moves a one-layer vector (or picks one layer of a multi-layer file); --beta defaults to 1.
 */
export function settingFromFlags(values: SteeringValues, defaultPositions: Positions = DEFAULT_POSITIONS): SteeringSetting | null {
  if (values.vector === undefined) {
    const given = (['layer', 'beta', 'positions'] as const).filter((k) => values[k] !== undefined);
    if (given.length) throw new SteerlabError('BAD_ARGUMENT', `${given.map((k) => `--${k}`).join('/')} need${given.length === 1 ? 's' : ''} --vector FILE`);
    return null;
  }
  let vector = readVector(values.vector);
  if (values.layer !== undefined) vector = vector.layers.length > 1 && vector.layers.includes(values.layer) ? vector.select([values.layer]) : vector.atLayer(values.layer);
  return { vector, beta: values.beta ?? 1, positions: values.positions ?? defaultPositions };
}

/** The setting as generate --json reports it. */
export function describeSetting(s: SteeringSetting | null) {
  return s ? { vectorId: s.vector.id, layer: s.vector.layers[0]!, layers: s.vector.layers, beta: s.beta, positions: s.positions } : null;
}
