/**
 * steerlab's steering-vector file: JSON with the directions and what a reader needs to trust them
 * (which model, which blocks, how they were made, how big they are next to the residual stream).
 * Format 2 holds one or many layers; format 1 (one `layer` + `vector`) is still read.
 */
import { z } from 'zod';
import { SteerlabError } from '../errors.js';

export const VECTOR_FORMAT = 'steerlab.vector/2';
const VECTOR_FORMAT_1 = 'steerlab.vector/1';

const meta = {
  model: z.object({ id: z.string(), hash: z.string().optional() }).optional(),
  method: z.string().optional(),
  sourceRuns: z.array(z.string()).optional(),
  options: z.record(z.string(), z.unknown()).optional(),
  createdAt: z.string().optional(),
};

const direction = z.strictObject({
  /** Block whose output (blocks.{layer}.hook_resid_post) the direction is added to, 0-based. */
  layer: z.number().int().min(0),
  vector: z.array(z.number().finite()),
  /** L2 norm of the direction, and the typical L2 norm of the residual at that block. */
  norm: z.number().nonnegative().optional(),
  residNorm: z.number().nonnegative().optional(),
});

const fileV2 = z.looseObject({ format: z.literal(VECTOR_FORMAT), hidden: z.number().int().positive(), directions: z.array(direction).min(1), ...meta });
/** Format 1; the format key is optional so hand-written {layer, hidden, vector} files load too. */
const fileV1 = z.looseObject({
  format: z.literal(VECTOR_FORMAT_1).optional(),
  layer: z.number().int().min(0),
  hidden: z.number().int().positive(),
  vector: z.array(z.number().finite()),
  norm: z.number().nonnegative().optional(),
  residNorm: z.number().nonnegative().optional(),
  ...meta,
});

export type VectorFile = z.infer<typeof fileV2>;
export type VectorMeta = Pick<VectorFile, 'model' | 'method' | 'sourceRuns' | 'options' | 'createdAt'>;

function oneLine(r: z.ZodSafeParseError<unknown>): string {
  const i = r.error.issues[0]!;
  return `vector file: ${i.path.join('.') || '(root)'}: ${i.message}`;
}

/** Parses either format into format 2; every direction must have `hidden` entries and layers differ. */
export function parseVectorFile(text: string): VectorFile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new SteerlabError('BAD_VECTOR', `vector file is not JSON: ${(e as Error).message}`);
  }
  let file: VectorFile;
  if (raw && typeof raw === 'object' && (raw as { format?: unknown }).format === VECTOR_FORMAT) {
    const r = fileV2.safeParse(raw);
    if (!r.success) throw new SteerlabError('BAD_VECTOR', oneLine(r));
    file = r.data;
  } else {
    const r = fileV1.safeParse(raw);
    if (!r.success) throw new SteerlabError('BAD_VECTOR', oneLine(r));
    const { format: _f, layer, vector, norm, residNorm, ...rest } = r.data;
    file = { ...rest, format: VECTOR_FORMAT, directions: [{ layer, vector, norm, residNorm }] };
  }
  const seen = new Set<number>();
  for (const d of file.directions) {
    if (d.vector.length !== file.hidden) throw new SteerlabError('BAD_VECTOR', `vector file: the layer ${d.layer} direction has ${d.vector.length} entries but hidden is ${file.hidden}`);
    if (seen.has(d.layer)) throw new SteerlabError('BAD_VECTOR', `vector file: layer ${d.layer} appears twice`);
    seen.add(d.layer);
  }
  return file;
}
