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
import type { StoredVector } from './store/db.js';
import { toControlVector } from './store/vectors.js';
import { l2 } from '../steering/control-vector.js';

/** The library as the steering control sees it: rows by id, and where a file read is kept. */
export interface LibraryLike {
  get(id: string | null): StoredVector | null;
  add(v: ControlVector, name: string, origin: StoredVector['origin']): Promise<StoredVector | null>;
}

/** The log-scale slider: position p in [-1, 1] ↔ β = sign(p)·span^|p| − sign(p) (0 at the middle, ±span at the ends). */
export function betaFromLog(p: number, span: number): number {
  const b = Math.sign(p) * (Math.pow(span + 1, Math.abs(p)) - 1);
  return Math.round(b * 100) / 100;
}
export function logFromBeta(beta: number, span: number): number {
  return (Math.sign(beta) * Math.log(Math.abs(beta) + 1)) / Math.log(span + 1);
}

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
  source = $state<'random' | 'file' | 'library'>('random');
  /** The library vector in use when source is 'library'. */
  libraryId = $state<string | null>(null);
  /** The strength slider's scale. */
  scale = $state<'linear' | 'log'>('linear');
  /** Each block's typical residual norm on the loaded model (from the worker), for the layer picker. */
  residNorms = $state.raw<number[] | null>(null);
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
  readonly movable = $derived.by(
    () =>
      this.source === 'random' ||
      (this.source === 'library' ? (this.library?.get(this.libraryId)?.data.directions.length ?? 1) === 1 : (this.file?.directions.length ?? 1) === 1),
  );

  /**
   * The layer picker's norm line: ‖β·v‖ against the layer's typical residual norm, e.g.
   * "‖β·v‖ 8.0 = 0.05× the residual norm at layer 1 (160)". Null without a vector or norms.
   */
  readonly normLine = $derived.by((): string | null => {
    const v = this.vector;
    const norms = this.residNorms;
    if ('problem' in v || !norms) return null;
    const parts = v.vector.directions.map((d) => {
      const n = Math.abs(this.beta) * l2(d.vector);
      const r = norms[d.layer];
      return r ? `‖β·v‖ ${n.toFixed(1)} = ${(n / r).toFixed(2)}× the residual norm at layer ${d.layer} (${r.toFixed(0)})` : null;
    });
    return parts.filter(Boolean).join('; ') || null;
  });

  /** The vector at its layer(s), or why there is none. */
  readonly vector = $derived.by((): { vector: ControlVector; label: string } | { problem: string } => {
    const m = this.model.info;
    if (!m) return { problem: 'load a model first' };
    if (this.source === 'random') return { vector: randomVector(m.hidden, this.seed, this.layer), label: `random unit direction, seed ${this.seed}` };
    if (this.source === 'library') {
      const row = this.library?.get(this.libraryId) ?? null;
      if (!row) return { problem: 'choose a vector from the library' };
      const lv = toControlVector(row);
      const vector = lv.directions.length === 1 ? lv.atLayer(this.layer) : lv;
      const problem = vectorProblem(vector, m);
      return problem ? { problem } : { vector, label: `library ${row.name}` };
    }
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

  constructor(
    private readonly model: { readonly info: { layers: number; hidden: number } | null },
    private readonly library: LibraryLike | null = null,
  ) {}

  use(id: string): void {
    const row = this.library?.get(id);
    if (!row) return;
    this.libraryId = id;
    this.source = 'library';
    const m = this.model.info;
    if (m && row.data.directions.length === 1) this.layer = Math.min(row.data.directions[0]!.layer, m.layers - 1);
  }

  /** A new model: the layer goes to the file's (a one-layer file) or to the middle block. */
  fitTo(m: { layers: number }): void {
    const f = this.file;
    const row = this.source === 'library' ? this.library?.get(this.libraryId) : null;
    const preferred = row && row.data.directions.length === 1 ? row.data.directions[0]!.layer : f && f.directions.length === 1 ? f.layers[0]! : Math.floor(m.layers / 2);
    this.layer = Math.min(preferred, m.layers - 1);
  }

  async readFile(file: File): Promise<void> {
    this.fileError = null;
    try {
      const v = readVectorJson(await file.text(), file.name);
      this.file = v;
      this.fileName = file.name;
      this.source = 'file';
      // kept in the library too, so it survives a reload (the panel keeps using it as the file)
      void this.library?.add(v, file.name, 'file');
      const m = this.model.info;
      if (m && v.directions.length === 1) this.layer = Math.min(v.layers[0]!, m.layers - 1);
    } catch (e) {
      this.fileError = describe(e);
    }
  }
}
