/**
 * Turns an unmodified decoder graph into a steerable ModelSession: add hooks, create the
 * runtime session on the best device, fall back (and say so) when that device fails.
 */
import { SteerlabError } from '../errors.js';
import { addHooks, detectStyle, INPUTS_EMBEDS, type Anchors } from './onnx/hooks.js';
import { decodeModel, encodeModel, DT } from './onnx/proto.js';
import type { Device, Runtime } from './runtime/types.js';
import { ModelSession, type ModelInfo, type TailSource } from './session.js';
import { tailFromGraph, type GraphTailInfo } from './tail/weights.js';
import type { ModelProto } from './onnx/proto.js';
import type { Tokenizer } from './tokenizer.js';
import type { LogitsHead } from './head/head8.js';

export interface GraphMeta {
  modelId: string;
  hash: string;
  architecture: string;
  heads: number;
  kvHeads: number;
  headDim: number;
  vocab: number;
  /** The most positions the model holds (its rotary tables); a forward past it is refused in one line. */
  maxPositions?: number;
}

export interface OpenOptions {
  device?: Device;
  externalData?: { path: string; data: Uint8Array }[];
  /** Where the last block's weights come from (V-Reason); openGraph reads them from the graph when not given. */
  tail?: TailSource;
  /** Config values a graph may not carry (for reading its tail back). */
  config?: Pick<GraphTailInfo, 'rmsEps' | 'ropeTheta' | 'maxPositions'>;
  /** The lm_head, for a graph that ends at the final norm (`head_input`; decoder.ts `head: 'outside'`). */
  head?: LogitsHead;
}

/** Adds the hook points to an unmodified graph (bytes) and opens it. */
export async function openGraph(runtime: Runtime, graph: Uint8Array, meta: GraphMeta, tokenizer: Tokenizer, opts: OpenOptions = {}): Promise<ModelSession> {
  const model = readGraph(graph);
  const tail = opts.tail ?? graphTail(model, meta, opts);
  const anchors = addHooks(model);
  return openHooked(runtime, encodeModel(model), anchors, meta, tokenizer, { ...opts, tail });
}

/** The last block's weights read back from the unhooked graph, or why they cannot be. */
function graphTail(model: ModelProto, meta: GraphMeta, opts: OpenOptions): TailSource {
  try {
    return { weights: tailFromGraph(model, detectStyle(model), { ...meta, ...opts.config }, opts.externalData) };
  } catch (e) {
    return { problem: (e as Error).message };
  }
}

function readGraph(graph: Uint8Array): ModelProto {
  try {
    return decodeModel(graph);
  } catch (e) {
    throw new SteerlabError('BAD_GRAPH', `not a readable ONNX model: ${(e as Error).message}`);
  }
}

/** The graph with steerlab's hooks, re-encoded, and what the rewrite found. */
export function hookGraph(graph: Uint8Array): { bytes: Uint8Array; anchors: Anchors } {
  const model = readGraph(graph);
  const anchors = addHooks(model);
  return { bytes: encodeModel(model), anchors };
}

/**
 * Opens a graph that already carries the hooks (bytes, or a file path where the runtime reads
 * files itself), on the wanted device, falling back to the others and recording why.
 */
export async function openHooked(runtime: Runtime, model: Uint8Array | string, anchors: Anchors, meta: GraphMeta, tokenizer: Tokenizer, opts: OpenOptions = {}): Promise<ModelSession> {
  const wanted = opts.device ?? runtime.devices[0]!;
  const order = [wanted, ...runtime.devices.filter((d) => d !== wanted)];
  const errors: string[] = [];
  for (const device of order) {
    try {
      const keepOnDevice = device === 'webgpu' ? Array.from({ length: anchors.layers }, (_, l) => [`present.${l}.key`, `present.${l}.value`]).flat() : undefined;
      const session = await runtime.createSession(model, { device, externalData: opts.externalData, keepOnDevice });
      const info: ModelInfo = {
        ...meta,
        layers: anchors.layers,
        hidden: anchors.hidden,
        style: anchors.style,
        dtype: anchors.floatType === DT.FLOAT16 ? 'fp16' : 'fp32',
        device,
        lmHead: opts.head ? 'kernel' : 'graph',
        embed: session.inputNames.includes(INPUTS_EMBEDS) ? 'kernel' : 'graph',
        ...(errors.length ? { fallbackReason: errors.join('; ') } : {}),
      };
      return new ModelSession(runtime, session, info, tokenizer, opts.tail, opts.head);
    } catch (e) {
      errors.push(`${device}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  throw new SteerlabError('BAD_GRAPH', `no device could run this graph (${errors.join('; ')})`);
}
