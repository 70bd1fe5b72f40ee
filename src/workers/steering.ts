/** Steering from the page: one check and one conversion for generation and episodes alike. */
import { SteerlabError } from '../errors.js';
import { checkPositions } from '../engine/hook-points.js';
import { ControlVector, type SteeringSetting } from '../steering/control-vector.js';
import type { SteeringWire } from './api.js';

/** The wire form as a SteeringSetting, checked against the model it will steer (if one is loaded). */
export function settingFromWire(w: SteeringWire | null | undefined, model: { layers: number; hidden: number } | null): SteeringSetting | null {
  if (w === null || w === undefined) return null;
  if (typeof w !== 'object') throw new SteerlabError('BAD_ARGUMENT', 'steering must be {vector, beta, positions} or null');
  if (!Number.isFinite(w.beta)) throw new SteerlabError('BAD_ARGUMENT', `steering strength must be a finite number, got ${w.beta}`);
  const vector = ControlVector.of(w.vector);
  if (model) vector.checkFits(model);
  return { vector, beta: w.beta, positions: checkPositions(w.positions) };
}
