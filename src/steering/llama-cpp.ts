/**
 * llama.cpp / repeng control vectors (GGUF): general.architecture "controlvector",
 * controlvector.model_hint, controlvector.layer_count, one f32 tensor "direction.N" per layer.
 *
 * Numbering: llama.cpp adds direction.N to the output of block N counted from 0, and N = 0 does
 * not exist (its loader stores direction.N at offset (N-1)*n_embd; apply reads block il at
 * (il-1)*n_embd). steerlab's blocks.{L}.hook_resid_post is the output of block L, so our layer L
 * is direction.L, and a vector on block 0 cannot be exported.
 */
import { SteerlabError } from '../errors.js';
import { GgmlType, dequantize } from '../engine/gguf/quant.js';
import { parseGguf, tensorBytes } from '../engine/gguf/reader.js';
import { writeControlVector } from '../engine/gguf/writer.js';

/** One direction at one block (ControlVector's Direction has the same shape). */
export interface Direction {
  layer: number;
  vector: Float32Array;
}

export function exportControlVector(dirs: readonly Direction[], modelHint: string): Uint8Array {
  for (const d of dirs) {
    if (d.layer === 0) {
      throw new SteerlabError('BAD_VECTOR', 'a vector on block 0 cannot be exported: llama.cpp control vectors start at direction.1 (the output of block 1)');
    }
  }
  return writeControlVector(dirs.map((d) => [d.layer, d.vector] as [number, Float32Array]), modelHint);
}

export function importControlVector(bytes: Uint8Array): { modelHint: string | null; directions: Direction[] } {
  const f = parseGguf(bytes);
  const arch = f.metadata.get('general.architecture');
  if (arch !== 'controlvector') throw new SteerlabError('BAD_VECTOR', `not a control vector: general.architecture is '${String(arch)}'`);
  const directions: Direction[] = [];
  for (const t of f.tensors) {
    const m = /^direction\.(\d+)$/.exec(t.name);
    if (!m) continue;
    const layer = Number(m[1]);
    if (layer < 1) throw new SteerlabError('BAD_VECTOR', `control vector has ${t.name}; llama.cpp's directions start at 1`);
    if (t.dims.length !== 1 || (t.type !== GgmlType.F32 && t.type !== GgmlType.F16)) {
      throw new SteerlabError('BAD_VECTOR', `${t.name} must be a 1-D f32 tensor (got ${t.typeName} [${t.dims}])`);
    }
    directions.push({ layer, vector: dequantize(t.type, tensorBytes(bytes, t), t.nElements, t.name) });
  }
  if (!directions.length) throw new SteerlabError('BAD_VECTOR', 'control vector holds no direction.N tensors');
  directions.sort((a, b) => a.layer - b.layer);
  const hint = f.metadata.get('controlvector.model_hint');
  return { modelHint: typeof hint === 'string' ? hint : null, directions };
}
