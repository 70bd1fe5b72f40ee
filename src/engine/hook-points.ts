/**
 * Hook points: where a forward can be read, added to or edited, named as TransformerLens names
 * them, from one table. A forward request (ForwardRequest in session.ts) says which hooks add what
 * at which positions (run_with_hooks), which to read back (run_with_cache), and which value-cache
 * rows to overwrite first. Steering, hidden-state recording and value-cache edits are all uses of it.
 */
import { SteerlabError } from '../errors.js';

/** Which positions of a forward an addition applies to, by the forward's region. */
export type Positions = 'all' | 'prompt' | 'generated';
export const POSITIONS: readonly Positions[] = ['all', 'prompt', 'generated'];

/** A forward's positions are either prompt (prefill) or generated (the model's own turn). */
export type Region = 'prompt' | 'generated';

type Kind = 'resid_pre' | 'resid_mid' | 'resid_post' | 'v' | 'ln_final';

interface HookPointSpec {
  kind: Kind;
  pattern: RegExp;
  template: string;
  /** What the hooked graph or the session does at this point; null = named but not exposed. */
  maps: string | null;
  add: boolean;
  read: boolean;
  edit: boolean;
}

/** The one table. `maps` is what the README's hook-point table says. */
export const HOOK_POINTS: readonly HookPointSpec[] = [
  { kind: 'resid_pre', pattern: /^blocks\.(\d+)\.hook_resid_pre$/, template: 'blocks.{L}.hook_resid_pre', maps: 'input of block L = blocks.{L-1}.hook_resid_post (L >= 1; the embedding output is not exposed)', add: true, read: true, edit: false },
  { kind: 'resid_mid', pattern: /^blocks\.(\d+)\.hook_resid_mid$/, template: 'blocks.{L}.hook_resid_mid', maps: null, add: false, read: false, edit: false },
  { kind: 'resid_post', pattern: /^blocks\.(\d+)\.hook_resid_post$/, template: 'blocks.{L}.hook_resid_post', maps: "output of block L: the graph's steering row L and resid_post[L]", add: true, read: true, edit: false },
  { kind: 'v', pattern: /^blocks\.(\d+)\.attn\.hook_v$/, template: 'blocks.{L}.attn.hook_v', maps: 'value cache of layer L (present.{L}.value), [kvHeads, positions, headDim]', add: false, read: true, edit: true },
  { kind: 'ln_final', pattern: /^ln_final$/, template: 'ln_final', maps: null, add: false, read: false, edit: false },
];

export interface ResolvedHook {
  name: string;
  kind: Kind;
  /** The block the hook belongs to (for ln_final: -1). */
  layer: number;
  /** For residual hooks: the row of the graph's steering / resid_post tensors that carries it. */
  row: number;
}

const KNOWN = HOOK_POINTS.map((h) => h.template).join(', ');

/** Resolves a hook name for one use; unknown names, layers and unsupported uses fail with one line. */
export function resolveHook(name: string, use: 'add' | 'read' | 'edit', layers: number): ResolvedHook {
  for (const spec of HOOK_POINTS) {
    const m = spec.pattern.exec(name);
    if (!m) continue;
    const layer = m[1] === undefined ? -1 : Number(m[1]);
    if (m[1] !== undefined && layer >= layers) throw new SteerlabError('BAD_SHAPE', `hook point '${name}': layer ${layer} is outside 0..${layers - 1}`);
    if (!spec.maps) throw new SteerlabError('BAD_ARGUMENT', `hook point '${name}' is not exposed by steerlab's hooked graphs (available: blocks.{L}.hook_resid_pre, blocks.{L}.hook_resid_post, blocks.{L}.attn.hook_v)`);
    if (!spec[use]) throw new SteerlabError('BAD_ARGUMENT', `hook point '${name}' cannot be used to ${use} (${spec.maps})`);
    if (spec.kind === 'resid_pre' && layer === 0) throw new SteerlabError('BAD_ARGUMENT', `hook point '${name}' is the embedding output, which the hooked graph does not expose; use blocks.0.hook_resid_post or later`);
    const row = spec.kind === 'resid_pre' ? layer - 1 : layer;
    return { name, kind: spec.kind, layer, row };
  }
  throw new SteerlabError('BAD_ARGUMENT', `unknown hook point '${name}' (known: ${KNOWN})`);
}

export const residPost = (layer: number): string => `blocks.${layer}.hook_resid_post`;
export const valueHook = (layer: number): string => `blocks.${layer}.attn.hook_v`;

/** One addition: `scale * vector` is added at a hook point, at the forwards whose region `positions` covers. */
export interface HookAdd {
  hook: string;
  vector: Float32Array;
  /** Default 1. */
  scale?: number;
  /** Default 'all'. */
  positions?: Positions;
}

/** Value-cache rows to overwrite before a forward runs: values [kvHeads, n, headDim] at [start, start+n). */
export interface HookEdit {
  hook: string;
  start: number;
  values: Float32Array;
}

/** What to read back: residual hooks at these chunk positions, value caches whole. */
export interface HookRead {
  hooks: string[];
  /** Chunk positions (0-based within this forward's ids) for residual hooks; default: the last one. */
  at?: number[];
}

export function checkPositions(p: unknown): Positions {
  if (!(POSITIONS as readonly unknown[]).includes(p)) throw new SteerlabError('BAD_ARGUMENT', `unknown positions '${String(p)}' (${POSITIONS.join(', ')})`);
  return p as Positions;
}

export const appliesTo = (positions: Positions | undefined, region: Region): boolean => (positions ?? 'all') === 'all' || positions === region;

/**
 * Packs the additions that apply in this region into the graph's [layers, hidden] steering input;
 * null when none do (the graph then gets its zero row block and a zero mask).
 */
export function packAdds(adds: readonly HookAdd[] | null | undefined, region: Region, layers: number, hidden: number): Float32Array | null {
  if (!adds?.length) return null;
  let out: Float32Array | null = null;
  for (const a of adds) {
    const h = resolveHook(a.hook, 'add', layers);
    checkPositions(a.positions ?? 'all');
    if (a.vector.length !== hidden) throw new SteerlabError('BAD_SHAPE', `vector for '${a.hook}' has ${a.vector.length} entries; this model's hidden size is ${hidden}`);
    const s = a.scale ?? 1;
    if (!Number.isFinite(s)) throw new SteerlabError('BAD_ARGUMENT', `strength ${s} for '${a.hook}' is not finite`);
    if (!appliesTo(a.positions, region)) continue;
    out ??= new Float32Array(layers * hidden);
    for (let i = 0; i < hidden; i++) out[h.row * hidden + i] += s * a.vector[i]!;
  }
  return out;
}

/** Identity of the additions that apply in a region (vector object, hook, scale), for caches keyed by steering. */
const vectorIds = new WeakMap<Float32Array, number>();
let nextVectorId = 1;
export function addsKey(adds: readonly HookAdd[] | null | undefined, region: Region): string | null {
  const live = (adds ?? []).filter((a) => appliesTo(a.positions, region) && (a.scale ?? 1) !== 0);
  if (!live.length) return null;
  return live
    .map((a) => {
      if (!vectorIds.has(a.vector)) vectorIds.set(a.vector, nextVectorId++);
      return `${vectorIds.get(a.vector)}@${a.hook}x${a.scale ?? 1}`;
    })
    .join(',');
}

/**
 * Activations read back from one forward, keyed by hook name (TransformerLens' ActivationCache).
 * Residual hooks are [P, hidden] views of one buffer; value hooks [kvHeads, T, headDim].
 */
export class ActivationCache {
  constructor(
    private readonly resid: Float32Array,
    private readonly layers: number,
    private readonly hidden: number,
    readonly at: readonly number[],
    private readonly values: ReadonlyMap<string, Float32Array>,
    private readonly names: readonly string[],
  ) {}

  /** The hook names this forward was asked to read. */
  keys(): string[] {
    return [...this.names];
  }

  get(hook: string): Float32Array {
    if (!this.names.includes(hook)) throw new SteerlabError('BAD_ARGUMENT', `hook '${hook}' was not read in this forward (read: ${this.names.join(', ') || 'none'})`);
    const v = this.values.get(hook);
    if (v) return v;
    const { row } = resolveHook(hook, 'read', this.layers);
    const n = this.at.length * this.hidden;
    return this.resid.subarray(row * n, (row + 1) * n);
  }

  /** The residual of a read hook at one of the read positions (index into `at`), as a copy. */
  row(hook: string, index: number): Float32Array {
    return this.get(hook).slice(index * this.hidden, (index + 1) * this.hidden);
  }
}
