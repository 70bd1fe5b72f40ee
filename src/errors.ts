/**
 * Typed errors: a stable code a caller can branch on, and a one-line message a user can act on.
 * Every bad-input path in the engine throws one of these instead of crashing or guessing.
 */
export type ErrorCode =
  | 'GGUF_BAD_MAGIC'
  | 'GGUF_TRUNCATED'
  | 'GGUF_CORRUPT'
  | 'GGUF_LIMIT'
  | 'UNSUPPORTED_ARCH'
  | 'UNSUPPORTED_QUANT'
  | 'UNSUPPORTED_TOKENIZER'
  | 'NO_RESIDUAL_ANCHOR'
  | 'BAD_GRAPH'
  | 'BAD_SHAPE'
  | 'BAD_ARGUMENT'
  | 'MODEL_NOT_FOUND'
  | 'FETCH_FAILED'
  | 'NO_WEBGPU'
  | 'STORAGE_FULL'
  | 'BAD_SCENARIO'
  | 'BAD_TRACE'
  | 'BAD_VECTOR'
  | 'DISPOSED'
  | 'WORKER_CRASHED'
  | 'CONTEXT_FULL';

export class SteerlabError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SteerlabError';
    this.code = code;
  }
}

export function fail(code: ErrorCode, message: string): never {
  throw new SteerlabError(code, message);
}
