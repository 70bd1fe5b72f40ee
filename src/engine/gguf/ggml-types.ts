/**
 * The ggml tensor type table: id, name, elements per block and bytes per block.
 * Sizes follow ggml's block structs (ggml-common.h). The reader needs them for every type, even
 * ones we cannot dequantize, to bound and locate tensor data; an id missing here is unknown.
 */
import { SteerlabError } from '../../errors.js';

export const GgmlType = {
  F32: 0,
  F16: 1,
  Q4_0: 2,
  Q4_1: 3,
  Q5_0: 6,
  Q5_1: 7,
  Q8_0: 8,
  Q8_1: 9,
  Q2_K: 10,
  Q3_K: 11,
  Q4_K: 12,
  Q5_K: 13,
  Q6_K: 14,
  Q8_K: 15,
  IQ2_XXS: 16,
  IQ2_XS: 17,
  IQ3_XXS: 18,
  IQ1_S: 19,
  IQ4_NL: 20,
  IQ3_S: 21,
  IQ2_S: 22,
  IQ4_XS: 23,
  I8: 24,
  I16: 25,
  I32: 26,
  I64: 27,
  F64: 28,
  IQ1_M: 29,
  BF16: 30,
  TQ1_0: 34,
  TQ2_0: 35,
  MXFP4: 39,
} as const;
export type GgmlTypeId = (typeof GgmlType)[keyof typeof GgmlType];

export interface GgmlTypeInfo {
  readonly name: string;
  /** elements per block */
  readonly blockSize: number;
  /** bytes per block */
  readonly typeSize: number;
}

const QK_K = 256;

// Ids 4, 5 (Q4_2/Q4_3) and 31-33, 36-38 (runtime-repacked variants) were removed from ggml and
// never appear in valid files. Q8_1 is 36 bytes (two fp16 + 32 int8, static_assert in
// ggml-common.h); gguf-py 0.19.0's table still says 40 from the old float layout.
const TABLE: ReadonlyMap<number, GgmlTypeInfo> = new Map<number, GgmlTypeInfo>([
  [0, { name: 'F32', blockSize: 1, typeSize: 4 }],
  [1, { name: 'F16', blockSize: 1, typeSize: 2 }],
  [2, { name: 'Q4_0', blockSize: 32, typeSize: 18 }],
  [3, { name: 'Q4_1', blockSize: 32, typeSize: 20 }],
  [6, { name: 'Q5_0', blockSize: 32, typeSize: 22 }],
  [7, { name: 'Q5_1', blockSize: 32, typeSize: 24 }],
  [8, { name: 'Q8_0', blockSize: 32, typeSize: 34 }],
  [9, { name: 'Q8_1', blockSize: 32, typeSize: 36 }],
  [10, { name: 'Q2_K', blockSize: QK_K, typeSize: 84 }],
  [11, { name: 'Q3_K', blockSize: QK_K, typeSize: 110 }],
  [12, { name: 'Q4_K', blockSize: QK_K, typeSize: 144 }],
  [13, { name: 'Q5_K', blockSize: QK_K, typeSize: 176 }],
  [14, { name: 'Q6_K', blockSize: QK_K, typeSize: 210 }],
  [15, { name: 'Q8_K', blockSize: QK_K, typeSize: 292 }],
  [16, { name: 'IQ2_XXS', blockSize: QK_K, typeSize: 66 }],
  [17, { name: 'IQ2_XS', blockSize: QK_K, typeSize: 74 }],
  [18, { name: 'IQ3_XXS', blockSize: QK_K, typeSize: 98 }],
  [19, { name: 'IQ1_S', blockSize: QK_K, typeSize: 50 }],
  [20, { name: 'IQ4_NL', blockSize: 32, typeSize: 18 }],
  [21, { name: 'IQ3_S', blockSize: QK_K, typeSize: 110 }],
  [22, { name: 'IQ2_S', blockSize: QK_K, typeSize: 82 }],
  [23, { name: 'IQ4_XS', blockSize: QK_K, typeSize: 136 }],
  [24, { name: 'I8', blockSize: 1, typeSize: 1 }],
  [25, { name: 'I16', blockSize: 1, typeSize: 2 }],
  [26, { name: 'I32', blockSize: 1, typeSize: 4 }],
  [27, { name: 'I64', blockSize: 1, typeSize: 8 }],
  [28, { name: 'F64', blockSize: 1, typeSize: 8 }],
  [29, { name: 'IQ1_M', blockSize: QK_K, typeSize: 56 }],
  [30, { name: 'BF16', blockSize: 1, typeSize: 2 }],
  [34, { name: 'TQ1_0', blockSize: QK_K, typeSize: 54 }],
  [35, { name: 'TQ2_0', blockSize: QK_K, typeSize: 66 }],
  [39, { name: 'MXFP4', blockSize: 32, typeSize: 17 }],
]);

/** Type info, or undefined for an id ggml does not define (or no longer defines). */
export function ggmlTypeInfo(type: number): GgmlTypeInfo | undefined {
  return TABLE.get(type);
}

/** Human-readable name for messages, including unknown ids. */
export function ggmlTypeName(type: number): string {
  return TABLE.get(type)?.name ?? `unknown ggml type ${type}`;
}

/**
 * Bytes needed for nElements of a type. Throws BAD_ARGUMENT when nElements is not a whole number
 * of blocks (ggml requires each row, hence the whole tensor, to be), UNSUPPORTED_QUANT for an unknown id.
 */
export function ggmlByteSize(type: number, nElements: number, what = 'tensor'): number {
  const info = TABLE.get(type);
  if (!info) throw new SteerlabError('UNSUPPORTED_QUANT', `${what}: unknown ggml type id ${type}`);
  if (!Number.isSafeInteger(nElements) || nElements < 0 || nElements % info.blockSize !== 0) {
    throw new SteerlabError(
      'BAD_ARGUMENT',
      `${what}: ${nElements} elements is not a whole number of ${info.name} blocks of ${info.blockSize}`,
    );
  }
  return (nElements / info.blockSize) * info.typeSize;
}
