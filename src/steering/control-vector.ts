/**
 * ControlVector: steering directions per layer with the metadata to trust them, as repeng's
 * ControlVector is. Made from logged runs (EAST and its controls), scaled and added, read and
 * written as steerlab JSON or llama.cpp GGUF, and turned into engine hook additions by one method,
 * toHooks(beta, positions). Immutable: every operation returns a new vector.
 *
 * A SteeringSetting is a vector at a strength on some positions: what is "in force" at a step.
 */
import { SteerlabError } from '../errors.js';
import { checkPositions, residPost, type HookAdd, type Positions } from '../engine/hook-points.js';
import { contrastiveVector, eastVector, shuffledControl, typicalNorm, type EastRun } from './east.js';
import { exportControlVector, importControlVector } from './llama-cpp.js';
import { VECTOR_FORMAT, parseVectorFile, type VectorFile, type VectorMeta } from './vector-file.js';

export interface Direction {
  layer: number;
  vector: Float32Array;
  /** Typical L2 norm of the residual at this block in the source runs (the yardstick for strength). */
  residNorm?: number;
}

/** The plain data of a ControlVector: what crosses a worker boundary (structured clone). */
export interface ControlVectorData {
  /** Names the vector in traces (file name, 'random-<seed>', 'east@15'). */
  id: string;
  hidden: number;
  directions: Direction[];
  meta: VectorMeta;
}

export type VectorMethod = 'east' | 'uncentred' | 'contrastive' | 'shuffled';
export const VECTOR_METHODS: readonly VectorMethod[] = ['east', 'uncentred', 'contrastive', 'shuffled'];

export function l2(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  return Math.sqrt(s);
}

export class ControlVector implements ControlVectorData {
  readonly id: string;
  readonly hidden: number;
  /** Sorted by layer, one per layer. */
  readonly directions: Direction[];
  readonly meta: VectorMeta;

  private constructor(d: ControlVectorData) {
    this.id = d.id;
    this.hidden = d.hidden;
    this.directions = [...d.directions].sort((a, b) => a.layer - b.layer);
    this.meta = d.meta;
  }

  /** Checks plain data (e.g. from a worker message) and makes a vector of it. */
  static of(d: ControlVectorData): ControlVector {
    const bad = (m: string): never => {
      throw new SteerlabError('BAD_VECTOR', m);
    };
    if (!d || typeof d !== 'object') bad('a control vector must be {id, hidden, directions, meta}');
    if (!Number.isInteger(d.hidden) || d.hidden < 1) bad(`control vector hidden size must be a positive integer, got ${d.hidden}`);
    if (!Array.isArray(d.directions) || !d.directions.length) bad('a control vector needs at least one direction');
    const seen = new Set<number>();
    for (const x of d.directions) {
      if (!Number.isInteger(x.layer) || x.layer < 0) bad(`direction layer must be a whole number >= 0, got ${x.layer}`);
      if (!(x.vector instanceof Float32Array)) bad('a direction vector must be a Float32Array');
      if (x.vector.length !== d.hidden) bad(`the layer ${x.layer} direction has ${x.vector.length} entries; hidden is ${d.hidden}`);
      if (seen.has(x.layer)) bad(`layer ${x.layer} appears twice`);
      seen.add(x.layer);
    }
    return new ControlVector({ id: String(d.id || 'vector'), hidden: d.hidden, directions: d.directions, meta: d.meta ?? {} });
  }

  static single(layer: number, vector: Float32Array, opts: { id?: string; residNorm?: number; meta?: VectorMeta } = {}): ControlVector {
    return ControlVector.of({ id: opts.id ?? `vector@${layer}`, hidden: vector.length, directions: [{ layer, vector, residNorm: opts.residNorm }], meta: opts.meta ?? {} });
  }

  /**
   * EAST (or a control) per layer from logged runs: runs.get(L) holds run-wise z at layer L and the
   * steps' entropies. The vector records each layer's typical residual norm for calibration.
   */
  static fromRuns(runs: ReadonlyMap<number, readonly EastRun[]>, method: VectorMethod, meta: VectorMeta & { id?: string } = {}): ControlVector {
    const directions = [...runs.entries()].map(([layer, r]) => {
      const vector =
        method === 'contrastive' ? contrastiveVector(r)
        : method === 'uncentred' ? eastVector(r, { center: false })
        : method === 'shuffled' ? shuffledControl(eastVector(r), `shuffle:${layer}`)
        : eastVector(r);
      return { layer, vector, residNorm: typicalNorm(r) };
    });
    const steps = [...runs.values()][0]?.reduce((a, r) => a + r.z.length, 0) ?? 0;
    const { id, ...rest } = meta;
    return ControlVector.of({
      id: id ?? `${method}@${directions.map((d) => d.layer).join(',')}`,
      hidden: directions[0]?.vector.length ?? 0,
      directions,
      meta: { ...rest, method, options: { steps, ...rest.options } },
    });
  }

  get layers(): number[] {
    return this.directions.map((d) => d.layer);
  }

  direction(layer: number): Direction {
    const d = this.directions.find((x) => x.layer === layer);
    if (!d) throw new SteerlabError('BAD_VECTOR', `vector '${this.id}' has no direction at layer ${layer} (has ${this.layers.join(', ')})`);
    return d;
  }

  /** Norm of one layer's direction relative to the typical residual norm there (null when unknown). */
  relativeNorm(layer: number): number | null {
    const d = this.direction(layer);
    return d.residNorm ? l2(d.vector) / d.residNorm : null;
  }

  /** beta that makes beta·|u_L| = r · residNorm_L (the strength as a multiple of the residual norm). */
  betaForRelative(r: number, layer = this.layers[0]!): number {
    const rel = this.relativeNorm(layer);
    if (rel === null || rel === 0) throw new SteerlabError('BAD_VECTOR', `vector '${this.id}' has no residual norm at layer ${layer}; relative strength is undefined`);
    return r / rel;
  }

  private map(f: (d: Direction) => Direction, id = this.id): ControlVector {
    return new ControlVector({ id, hidden: this.hidden, directions: this.directions.map(f), meta: this.meta });
  }

  scale(k: number): ControlVector {
    if (!Number.isFinite(k)) throw new SteerlabError('BAD_ARGUMENT', `scale ${k} is not finite`);
    return this.map((d) => ({ ...d, vector: Float32Array.from(d.vector, (x) => x * k) }));
  }

  /** Sum per layer; a layer present in one vector only keeps its direction. */
  add(other: ControlVector): ControlVector {
    if (other.hidden !== this.hidden) throw new SteerlabError('BAD_SHAPE', `cannot add vectors of hidden size ${this.hidden} and ${other.hidden}`);
    const byLayer = new Map(this.directions.map((d) => [d.layer, d]));
    for (const o of other.directions) {
      const d = byLayer.get(o.layer);
      byLayer.set(o.layer, d ? { ...d, vector: Float32Array.from(d.vector, (x, i) => x + o.vector[i]!) } : o);
    }
    return new ControlVector({ id: `${this.id}+${other.id}`, hidden: this.hidden, directions: [...byLayer.values()], meta: this.meta });
  }

  /** The same vector restricted to some of its layers. */
  select(layers: readonly number[]): ControlVector {
    return new ControlVector({ id: this.id, hidden: this.hidden, directions: layers.map((l) => this.direction(l)), meta: this.meta });
  }

  /** A one-direction vector moved to another block (the CLI's --layer, the page's layer slider). */
  atLayer(layer: number): ControlVector {
    if (this.directions.length !== 1) throw new SteerlabError('BAD_ARGUMENT', `vector '${this.id}' has ${this.directions.length} layers (${this.layers.join(', ')}); only a one-layer vector can be moved`);
    if (layer === this.layers[0]) return this;
    return this.map((d) => ({ ...d, layer, residNorm: undefined }));
  }

  /** Same directions in shuffled entries (the size-matched control), seeded per layer. */
  shuffled(seedOf: (layer: number) => string): ControlVector {
    return this.map((d) => ({ ...d, vector: shuffledControl(d.vector, seedOf(d.layer)) }), `shuffled:${this.id}`);
  }

  /** The engine's additions: beta·u_L at blocks.{L}.hook_resid_post on `positions`. */
  toHooks(beta: number, positions: Positions = 'generated'): HookAdd[] {
    if (!Number.isFinite(beta)) throw new SteerlabError('BAD_ARGUMENT', `steering strength ${beta} is not finite`);
    checkPositions(positions);
    return this.directions.map((d) => ({ hook: residPost(d.layer), vector: d.vector, scale: beta, positions }));
  }

  /** Checks the vector fits a model; one line naming the mismatch. */
  checkFits(model: { layers: number; hidden: number }): void {
    if (this.hidden !== model.hidden) throw new SteerlabError('BAD_SHAPE', `vector '${this.id}' has ${this.hidden} dimensions; this model's hidden size is ${model.hidden}`);
    const out = this.layers.find((l) => l >= model.layers);
    if (out !== undefined) throw new SteerlabError('BAD_SHAPE', `vector '${this.id}' is for layer ${out}; this model has layers 0..${model.layers - 1}`);
  }

  // ---------- files ----------
  static fromJson(text: string, id = 'vector'): ControlVector {
    const f = parseVectorFile(text);
    const { format: _f, hidden, directions, model, method, sourceRuns, options, createdAt } = f;
    return ControlVector.of({
      id,
      hidden,
      directions: directions.map((d) => ({ layer: d.layer, vector: Float32Array.from(d.vector), residNorm: d.residNorm })),
      meta: { model, method, sourceRuns, options, createdAt },
    });
  }

  /** Its plain data (no class instance, no reactive proxy), for structured clone across a worker or into IndexedDB. */
  toData(): ControlVectorData {
    return {
      id: this.id,
      hidden: this.hidden,
      directions: this.directions.map((d) => ({ layer: d.layer, vector: d.vector, ...(d.residNorm !== undefined ? { residNorm: d.residNorm } : {}) })),
      meta: JSON.parse(JSON.stringify(this.meta)) as ControlVectorData['meta'],
    };
  }

  toFile(): VectorFile {
    const clean = <T extends object>(o: T): T => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
    return clean({
      format: VECTOR_FORMAT,
      hidden: this.hidden,
      directions: this.directions.map((d) => clean({ layer: d.layer, vector: Array.from(d.vector), norm: l2(d.vector), residNorm: d.residNorm })),
      ...this.meta,
      createdAt: this.meta.createdAt ?? new Date().toISOString(),
    });
  }

  toJson(): string {
    return `${JSON.stringify(this.toFile())}\n`;
  }

  /** llama.cpp / repeng control-vector GGUF (direction.L = our layer L; block 0 cannot be exported). */
  toGguf(modelHint = 'llama'): Uint8Array {
    return exportControlVector(this.directions, modelHint);
  }

  static fromGguf(bytes: Uint8Array, id = 'control-vector'): ControlVector {
    const cv = importControlVector(bytes);
    return ControlVector.of({
      id,
      hidden: cv.directions[0]!.vector.length,
      directions: cv.directions,
      meta: { method: 'llama.cpp control vector', model: cv.modelHint ? { id: cv.modelHint } : undefined },
    });
  }
}

/** A vector at a strength on some positions: the steering in force at one step or token. */
export interface SteeringSetting {
  vector: ControlVector;
  beta: number;
  positions: Positions;
}

/** The setting's engine additions (none at beta 0, so an unsteered step runs the plain path). */
export function settingHooks(s: SteeringSetting | null | undefined): HookAdd[] | null {
  return s && s.beta !== 0 ? s.vector.toHooks(s.beta, s.positions) : null;
}
