/**
 * Adds steerlab's hook points to a decoder graph at load time, without touching its weights:
 *
 *   inputs   steering          float32 [num_layers, hidden]   row L is added to blocks.L.hook_resid_post
 *            steering_mask     float32 [batch, seq]           1 where the vector applies in this chunk
 *            hidden_positions  int64   [P]                    chunk positions whose residuals are returned
 *            num_logits_to_keep int64  []                     logits only for the last n positions
 *   outputs  resid_post        float32 [num_layers, batch, P, hidden]  (after steering)
 *
 * The residual anchor depends on how the graph was exported (see detectStyle). A zero steering
 * row adds +0 to every element, so an unsteered call gives bit-identical logits.
 */
import { SteerlabError } from '../../errors.js';
import { GraphBuilder } from './graph.js';
import { DT, elemTypeOf, valueInfo, type ModelProto, type NodeProto } from './proto.js';

export type HookStyle = 'optimum' | 'genai';

export interface Anchors {
  style: HookStyle;
  layers: number;
  hidden: number;
  /** Activation dtype of the graph (FLOAT or FLOAT16). */
  floatType: number;
}

const optimumName = (L: number) => `/model/layers.${L}/Add_1`;
const genaiName = (L: number, N: number) =>
  L + 1 < N ? `/model/layers.${L + 1}/input_layernorm/SkipLayerNorm` : `/model/layers.${N}/final_norm_layernorm/SkipLayerNorm`;

export function countLayers(model: ModelProto): number {
  return model.graph.input.filter((i) => /^past_key_values\.\d+\.key$/.test(i.name)).length;
}

/** Finds which export style the graph is in; throws a typed error naming what was looked for. */
export function detectStyle(model: ModelProto): HookStyle {
  const N = countLayers(model);
  if (N === 0) throw new SteerlabError('BAD_GRAPH', 'graph has no past_key_values.N.key inputs: not a decoder with a KV cache');
  const byName = new Map(model.graph.node.map((n) => [n.name ?? '', n]));
  const all = (f: (L: number) => boolean) => Array.from({ length: N }, (_, L) => L).every(f);
  if (all((L) => byName.get(optimumName(L))?.opType === 'Add')) return 'optimum';
  if (all((L) => byName.get(genaiName(L, N))?.opType === 'SkipSimplifiedLayerNormalization')) return 'genai';
  throw new SteerlabError(
    'NO_RESIDUAL_ANCHOR',
    `no residual-stream anchor found: looked for Add nodes '/model/layers.L/Add_1' (optimum export) and SkipSimplifiedLayerNormalization nodes '/model/layers.L/input_layernorm/SkipLayerNorm' + final_norm_layernorm (onnxruntime-genai) for all ${N} layers`,
  );
}

function hiddenSize(model: ModelProto, style: HookStyle): number {
  const N = countLayers(model);
  const gammaName = style === 'genai' ? model.graph.node.find((n) => n.name === genaiName(0, N))?.input[2] : undefined;
  const inits = new Map(model.graph.initializer.map((t) => [t.name, t]));
  if (gammaName && inits.get(gammaName)) return Number(inits.get(gammaName)!.dims[0]);
  // Fall back to the first norm weight / embedding table shape.
  for (const t of model.graph.initializer) {
    if (/(input_layernorm|norm)\.weight$/.test(t.name) && t.dims.length === 1) return Number(t.dims[0]);
  }
  const emb = model.graph.initializer.find((t) => /embed_tokens/.test(t.name) && t.dims.length === 2);
  if (emb) return Number(emb.dims[1]);
  throw new SteerlabError('BAD_GRAPH', 'cannot find the hidden size (no norm weight or embedding initializer)');
}

export function addHooks(model: ModelProto): Anchors {
  if (model.graph.input.some((i) => i.name === 'steering')) {
    throw new SteerlabError('BAD_GRAPH', 'graph already has steerlab hooks');
  }
  const style = detectStyle(model);
  const N = countLayers(model);
  const H = hiddenSize(model, style);
  const pastKey = model.graph.input.find((i) => i.name === 'past_key_values.0.key')!;
  const floatType = elemTypeOf(pastKey);
  const g = new GraphBuilder('/steerlab');
  const nodes = model.graph.node;

  g.input('steering', DT.FLOAT, [N, H]);
  g.input('steering_mask', DT.FLOAT, ['batch_size', 'sequence_length']);
  g.input('hidden_positions', DT.INT64, ['num_hidden_positions']);
  const mask3 = g.op('Unsqueeze', [`steering_mask`, g.constI64([-1])], undefined, '/steerlab/mask_unsqueeze');

  const steerTerm = (L: number): string => {
    const row = g.op('Gather', ['steering', g.constI64([L], [])], { axis: 0 }, `/steerlab/blocks.${L}/row`);
    const term = g.op('Mul', [mask3, row], undefined, `/steerlab/blocks.${L}/term`);
    return floatType === DT.FLOAT16 ? g.op('Cast', [term], { to: DT.FLOAT16 }, `/steerlab/blocks.${L}/cast`) : term;
  };
  const readHidden = (L: number, resid: string): string => {
    const picked = g.op('Gather', [resid, 'hidden_positions'], { axis: 1 }, `/steerlab/blocks.${L}/hook_resid_post`);
    const f32 = floatType === DT.FLOAT16 ? g.op('Cast', [picked], { to: DT.FLOAT }, `/steerlab/blocks.${L}/hook_cast`) : picked;
    return g.op('Unsqueeze', [f32, g.constI64([0])], undefined, `/steerlab/blocks.${L}/hook_unsqueeze`);
  };

  const hiddenParts: string[] = [];
  const renames = new Map<string, string>();
  for (let L = 0; L < N; L++) {
    if (style === 'optimum') {
      const node = nodes.find((n) => n.name === optimumName(L))!;
      const r = node.output[0]!;
      const steered = g.op('Add', [r, steerTerm(L)], undefined, `/steerlab/blocks.${L}/steer`);
      renames.set(r, steered);
      hiddenParts.push(readHidden(L, steered));
    } else {
      const node = nodes.find((n) => n.name === genaiName(L, N))!;
      const delta = node.input[1]!;
      node.input[1] = g.op('Add', [delta, steerTerm(L)], undefined, `/steerlab/blocks.${L}/steer`);
      while (node.output.length < 4) node.output.push('');
      if (!node.output[3]) node.output[3] = `${node.name}/output_3`;
      hiddenParts.push(readHidden(L, node.output[3]!));
    }
  }
  const resid = g.node('Concat', hiddenParts, { name: '/steerlab/resid_post', outputs: ['resid_post'], attrs: { axis: 0 } })[0]!;
  g.output(resid, DT.FLOAT, [N, 'batch_size', 'num_hidden_positions', H]);

  // Consumers of an optimum residual now read the steered value (our own Add keeps the original).
  if (renames.size) {
    for (const n of nodes) n.input = n.input.map((i) => renames.get(i) ?? i);
  }
  addLogitsSlice(model, g);

  model.graph.node.push(...g.nodes);
  model.graph.initializer.push(...g.initializers);
  model.graph.input.push(...g.inputs);
  model.graph.output.push(...g.outputs);
  const ms = model.opsetImport.find((o) => o.domain === 'com.microsoft');
  if (!ms) model.opsetImport.push({ domain: 'com.microsoft', version: 1 });
  return { style, layers: N, hidden: H, floatType };
}

/**
 * Adds num_logits_to_keep (HF semantics) when the graph lacks it: the lm_head sees only the last
 * n positions. The lm_head is a MatMul/MatMulNBits/Gemm, or (steerlab's own quantised graphs) an
 * Add of MatMulNBits halves and a block-minimum term, all reading one input, which is sliced for
 * every consumer.
 */
/** The graph output that replaces `logits` when the lm_head runs outside the graph (decoder.ts `head`). */
export const HEAD_INPUT = 'head_input';
/** The graph input that replaces `input_ids` when the embedding is gathered outside the graph (decoder.ts `embed`). */
export const INPUTS_EMBEDS = 'inputs_embeds';

function addLogitsSlice(model: ModelProto, g: GraphBuilder): void {
  if (model.graph.input.some((i) => i.name === 'num_logits_to_keep')) return;
  const producers = new Map<string, NodeProto>();
  for (const n of model.graph.node) for (const o of n.output) producers.set(o, n);
  const keepSlice = (input: string) => {
    g.input('num_logits_to_keep', DT.INT64, []);
    const neg = g.op('Neg', [g.op('Unsqueeze', ['num_logits_to_keep', g.constI64([0])], undefined, '/steerlab/keep_unsqueeze')], undefined, '/steerlab/keep_neg');
    return g.op('Slice', [input, neg, g.constI64([2 ** 53 - 1]), g.constI64([1])], undefined, '/steerlab/keep_slice');
  };
  const outside = producers.get(HEAD_INPUT);
  if (outside) {
    // The lm_head runs outside the graph (decoder.ts `head: 'outside'`): slice the rows it gets.
    outside.input[0] = keepSlice(outside.input[0]!);
    return;
  }
  let node = producers.get('logits');
  // Element-wise steps after the lm_head (casts, Gemma's logit soft-capping) commute with the slice.
  while (node && ['Identity', 'Cast', 'Tanh', 'Mul', 'Div'].includes(node.opType)) node = producers.get(node.input[0]!);
  if (!node) return;
  let input: string | undefined;
  if (['MatMul', 'MatMulNBits', 'Gemm'].includes(node.opType)) input = node.input[0];
  else if (node.opType === 'Add' && node.name?.startsWith('/lm_head/')) {
    const first = model.graph.node.find((n) => n.name === '/lm_head/MatMulNBits');
    input = first?.input[0];
  }
  if (!input) return;
  const sliced = keepSlice(input);
  if (node.opType !== 'Add') {
    node.input[0] = sliced;
    return;
  }
  // Every reader of the lm_head's input is part of the lm_head (the final norm's residual output,
  // which the hooks read, is another tensor).
  for (const n of model.graph.node) n.input = n.input.map((i) => (i === input ? sliced : i));
}

export { valueInfo };
