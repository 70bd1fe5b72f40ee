/**
 * Opens a GGUF file (bytes from disk, a File, or a URL) as a steerable session: convert the
 * weights, build tokenizer.json from the GGUF vocabulary, apply the GGUF chat template through
 * transformers.js.
 */
import type { GgufFile } from '../gguf/reader.js';
import { parseGguf } from '../gguf/reader.js';
import { buildDecoderGraphExternal, EXTERNAL_DATA_NAME, type DecoderGraphOptions } from '../onnx/decoder.js';
import { openGraph, type OpenOptions } from '../open.js';
import type { Runtime } from '../runtime/types.js';
import type { ModelSession } from '../session.js';
import { hfTokenizer } from '../text.js';
import type { Tokenizer } from '../tokenizer.js';
import { ggufToHfTokenizer } from '../gguf/tokenizer.js';
import { ggufConfig, ggufWeights } from './convert.js';
import { sha256Hex } from './files.js';
import { withFloatLinears, type DecoderConfig, type Matrix } from '../model/types.js';
import { tailFromWeights } from '../tail/weights.js';
import { Head8, head8Supports } from '../head/head8.js';
import { SteerlabError } from '../../errors.js';

function describeMatrix(m: Matrix): string {
  return m.kind === 'float' ? 'float' : `${m.bits}-bit`;
}

export interface GgufLoadTimings {
  parseMs: number;
  convertMs: number;
  graphMs: number;
  sessionMs: number;
}

export function ggufTokenizer(f: GgufFile): Tokenizer {
  const { tokenizerJson, tokenizerConfig } = ggufToHfTokenizer(f);
  return hfTokenizer(tokenizerJson, tokenizerConfig);
}

/**
 * Converts GGUF bytes into an unmodified decoder graph (no hooks yet) whose weights sit in one
 * external-data buffer named EXTERNAL_DATA_NAME. By default it returns only the new KV rows
 * (`present_rows.*`, token-major; host-row caches, the CPU devices); `kv: 'present'` (WebGPU,
 * folder exports) uses GroupQueryAttention and returns whole presents only.
 */
export function ggufToGraph(bytes: Uint8Array, opts: Partial<DecoderGraphOptions> & { floatLinears?: boolean } = {}): { file: GgufFile; cfg: DecoderConfig; graph: Uint8Array; data: Uint8Array; timings: Omit<GgufLoadTimings, 'sessionMs'> } {
  const t0 = performance.now();
  const file = parseGguf(bytes);
  const t1 = performance.now();
  const cfg = ggufConfig(file);
  const quantised = ggufWeights(file, bytes, cfg);
  const weights = opts.floatLinears ? withFloatLinears(quantised) : quantised;
  const t2 = performance.now();
  // accuracy_level 0 (default) computes in float against the dequantised weights, so chunked and
  // cached runs agree to ~1e-4; 4 quantises activations to int8 per call (as llama.cpp's CPU
  // kernels do): ~15 % faster on CPU, but prefill and decode then differ (SmolLM2, Gemma 3: up
  // to ~0.4 logits with the centred zero points decoder.ts uses; next-token probabilities stay
  // within ~0.06 of llama.cpp's).
  const { graph, data } = buildDecoderGraphExternal(cfg, weights, { style: opts.style ?? 'genai', dtype: opts.dtype ?? 'fp32', accuracyLevel: opts.accuracyLevel ?? 0, kv: opts.kv ?? 'rows', embedTable: opts.embedTable ?? 'shared' });
  const t3 = performance.now();
  return { file, cfg, graph, data, timings: { parseMs: t1 - t0, convertMs: t2 - t1, graphMs: t3 - t2 } };
}

export type LoadPhase = 'parse' | 'convert' | 'session';

export interface OpenGgufOptions extends OpenOptions {
  /** MatMulNBits accuracy_level (see ggufToGraph); default 0. */
  accuracyLevel?: number;
  /**
   * Linears as float MatMul instead of MatMulNBits; default: on the browser's wasm device only,
   * whose onnxruntime build has no 4-bit kernel (see withFloatLinears). Costs 4 bytes per weight.
   */
  floatLinears?: boolean;
  /**
   * Where the lm_head runs:
   *  - 'kernel': outside the graph, by the 8-bit wasm kernel (head/head8.ts), kept 8-bit; the
   *    default where linears are float and the lm_head is 8-bit (the browser's wasm device). A
   *    tied embedding is then gathered from the kernel's table too (the graph takes inputs_embeds);
   *  - 'graph': in the graph, as its other linears (float there: 4 bytes per weight).
   */
  lmHead?: 'kernel' | 'graph';
  /** Called when each phase starts and ends, for progress bars. */
  onPhase?: (phase: LoadPhase, done: boolean) => void;
}

export async function openGguf(runtime: Runtime, bytes: Uint8Array, modelId: string, opts: OpenGgufOptions = {}): Promise<{ session: ModelSession; timings: GgufLoadTimings }> {
  const phase = opts.onPhase ?? (() => {});
  phase('parse', false);
  const t0 = performance.now();
  const file = parseGguf(bytes);
  const cfg = ggufConfig(file);
  const tokenizer = ggufTokenizer(file);
  const hash = await sha256Hex(bytes);
  const t1 = performance.now();
  phase('parse', true);
  phase('convert', false);
  const accuracyLevel = opts.accuracyLevel ?? 0;
  const device = opts.device ?? runtime.devices[0];
  const floatLinears = opts.floatLinears ?? (runtime.name === 'web' && device === 'wasm');
  const quantised = ggufWeights(file, bytes, cfg);
  const kernelHead = (opts.lmHead ?? (floatLinears && head8Supports(quantised.lmHead) ? 'kernel' : 'graph')) === 'kernel';
  if (kernelHead && !head8Supports(quantised.lmHead)) {
    throw new SteerlabError('UNSUPPORTED_QUANT', `the lm_head kernel takes 8-bit lm_heads; ${modelId}'s is ${describeMatrix(quantised.lmHead)}`);
  }
  const weights = floatLinears ? withFloatLinears(quantised, { lmHead: !kernelHead }) : quantised;
  const head = kernelHead ? new Head8(quantised.lmHead, cfg.finalSoftcap) : undefined;
  const t2 = performance.now();
  // Only WebGPU keeps whole present tensors; the CPU devices keep host rows (kvcache.ts).
  // A tied table in the kernel also gives the embedding rows, so the graph holds no copy of it.
  const embedOutside = kernelHead && quantised.embed === quantised.lmHead;
  const { graph, data } = buildDecoderGraphExternal(cfg, weights, { style: 'genai', dtype: 'fp32', accuracyLevel, kv: device === 'webgpu' ? 'present' : 'rows', head: kernelHead ? 'outside' : 'graph', embed: embedOutside ? 'outside' : 'graph' });
  const t3 = performance.now();
  phase('convert', true);
  phase('session', false);
  const meta = { modelId, hash, architecture: cfg.architecture, heads: cfg.heads, kvHeads: cfg.kvHeads, headDim: cfg.headDim, vocab: cfg.vocab, maxPositions: cfg.maxPositions };
  const tail = { weights: tailFromWeights(cfg, quantised) };
  const session = await openGraph(runtime, graph, meta, tokenizer, { device: opts.device, externalData: [{ path: EXTERNAL_DATA_NAME, data }], tail, head });
  phase('session', true);
  return { session, timings: { parseMs: t1 - t0, convertMs: t2 - t1, graphMs: t3 - t2, sessionMs: performance.now() - t3 } };
}
