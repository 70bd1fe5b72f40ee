/**
 * The page's one steering control, shared by the Generate and Agent panels: a vector (a seeded
 * random unit direction or a vector file), the layer it is moved to, its strength and the
 * positions it is added at ('generated' by default, as `steerlab generate` and the agent). It
 * derives the SteeringWire both panels send to the worker, or a one-line reason there is none.
 */
import { POSITIONS, type Positions } from '../engine/hook-points.js';
import type { ControlVector } from '../steering/control-vector.js';
import type { SteeringWire } from '../workers/api.js';
import { describe } from './describe.js';
import { randomVector, readVectorJson, steeringWire, vectorProblem } from './vectors.js';

export const DEFAULT_POSITIONS: Positions = 'generated';

/** The choices of the positions control, in order, with what each steers. */
export const POSITION_CHOICES: readonly { value: Positions; label: string }[] = POSITIONS.map((value) => ({
  value,
  label: { all: 'all (prompt and generated)', prompt: 'prompt only', generated: "generated (the model's own tokens)" }[value],
}));

/** The steering in force, with a caption for the outputs it made. */
export interface SteeringChoice {
  wire: SteeringWire;
  /** The blocks it is added at. */
  layers: number[];
  /** e.g. "layer 1, β 8, generated positions, random unit direction, seed 7". */
  caption: string;
}

export class SteeringState {
  source = $state<'random' | 'file'>('random');
  seed = $state(7);
  /** The vector read from a file (kept whole: one layer or many). */
  file = $state.raw<ControlVector | null>(null);
  fileName = $state<string | null>(null);
  fileError = $state<string | null>(null);
  /** The block a one-layer vector is moved to (ControlVector.atLayer). */
  layer = $state(0);
  beta = $state(8);
  positions = $state<Positions>(DEFAULT_POSITIONS);

  /** Whether the layer control applies: a random direction or a one-layer file is moved to it; a multi-layer file is used as it is. */
  readonly movable = $derived(this.source === 'random' || (this.file?.directions.length ?? 1) === 1);

  /** The vector at its layer(s), or why there is none. */
  readonly vector = $derived.by((): { vector: ControlVector; label: string } | { problem: string } => {
    const m = this.model.info;
    if (!m) return { problem: 'load a model first' };
    if (this.source === 'random') return { vector: randomVector(m.hidden, this.seed, this.layer), label: `random unit direction, seed ${this.seed}` };
    const f = this.file;
    if (!f) return { problem: 'choose a vector file' };
    const vector = f.directions.length === 1 ? f.atLayer(this.layer) : f;
    const problem = vectorProblem(vector, m);
    return problem ? { problem } : { vector, label: `file ${this.fileName}` };
  });

  /** What the panels send (vector, beta, positions) and its caption, or why there is nothing to send. */
  readonly current = $derived.by((): SteeringChoice | { problem: string } => {
    const v = this.vector;
    if ('problem' in v) return v;
    const layers = v.vector.layers;
    return {
      wire: steeringWire(v.vector, this.beta, this.positions),
      layers,
      caption: `layer${layers.length > 1 ? 's' : ''} ${layers.join(', ')}, β ${this.beta}, ${this.positions} positions, ${v.label}`,
    };
  });

  readonly wire = $derived('wire' in this.current ? this.current.wire : null);
  readonly problem = $derived('problem' in this.current ? this.current.problem : null);

  constructor(private readonly model: { readonly info: { layers: number; hidden: number } | null }) {}

  /** A new model: the layer goes to the file's (a one-layer file) or to the middle block. */
  fitTo(m: { layers: number }): void {
    const f = this.file;
    const preferred = f && f.directions.length === 1 ? f.layers[0]! : Math.floor(m.layers / 2);
    this.layer = Math.min(preferred, m.layers - 1);
  }

  async readFile(file: File): Promise<void> {
    this.fileError = null;
    try {
      const v = readVectorJson(await file.text(), file.name);
      this.file = v;
      this.fileName = file.name;
      this.source = 'file';
      const m = this.model.info;
      if (m && v.directions.length === 1) this.layer = Math.min(v.layers[0]!, m.layers - 1);
    } catch (e) {
      this.fileError = describe(e);
    }
  }
}
