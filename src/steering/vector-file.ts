/**
 * steerlab's steering-vector file: JSON with the vector and what a reader needs to trust it
 * (which model, which block, how it was made, how big it is next to the residual stream).
 */
import { z } from 'zod';
import { SteerlabError } from '../errors.js';

export const VECTOR_FORMAT = 'steerlab.vector/1';

export const vectorFileSchema = z.looseObject({
  /** Optional on input so hand-written {layer, hidden, vector} files load too; always written. */
  format: z.literal(VECTOR_FORMAT).optional(),
  /** Block whose output (blocks.{layer}.hook_resid_post) the vector is added to, 0-based. */
  layer: z.number().int().min(0),
  hidden: z.number().int().positive(),
  vector: z.array(z.number().finite()),
  model: z.object({ id: z.string(), hash: z.string().optional() }).optional(),
  method: z.string().optional(),
  /** L2 norm of the vector, and the typical L2 norm of the residual at that block. */
  norm: z.number().nonnegative().optional(),
  residNorm: z.number().nonnegative().optional(),
  sourceRuns: z.array(z.string()).optional(),
  options: z.record(z.string(), z.unknown()).optional(),
  createdAt: z.string().optional(),
});

export type VectorFile = z.infer<typeof vectorFileSchema>;

export function parseVectorFile(text: string): VectorFile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new SteerlabError('BAD_VECTOR', `vector file is not JSON: ${(e as Error).message}`);
  }
  const r = vectorFileSchema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new SteerlabError('BAD_VECTOR', `vector file: ${i.path.join('.') || '(root)'}: ${i.message}`);
  }
  if (r.data.vector.length !== r.data.hidden) {
    throw new SteerlabError('BAD_VECTOR', `vector file: vector has ${r.data.vector.length} entries but hidden is ${r.data.hidden}`);
  }
  return r.data;
}

export function l2(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  return Math.sqrt(s);
}

export function makeVectorFile(layer: number, vector: Float32Array, extra: Partial<Omit<VectorFile, 'format' | 'layer' | 'hidden' | 'vector'>> = {}): VectorFile {
  return { format: VECTOR_FORMAT, layer, hidden: vector.length, vector: Array.from(vector), norm: l2(vector), createdAt: new Date().toISOString(), ...extra };
}
