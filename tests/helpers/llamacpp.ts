/**
 * llama.cpp as an oracle, through the node-llama-cpp development dependency (prebuilt CPU
 * binaries, never built here). One Llama instance per test file; GGUF bytes made in a test are
 * written to a temporary file for it. The real Gemma 3 file is a requirement like the real
 * SmolLM2 one (tests/helpers/real.ts).
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ControlledEvaluateInputItem, Llama, LlamaModel, Token } from 'node-llama-cpp';
import { GgufValueType } from '../../src/engine/gguf/reader.js';
import type { GgufMetadataEntry } from '../../src/engine/gguf/writer.js';
import { findKnownModel, knownModelPath } from '../../src/node/registry.js';
import { SKIP_REAL_VARIABLE } from './real.js';
import { requirement } from './requirement.js';

let llama: Promise<Llama> | undefined;
export function oracle(): Promise<Llama> {
  // node-llama-cpp first simulates a load to size its resources; on a vocabulary-only file that
  // fails ("missing tensor") and it falls back, harmlessly: those lines are dropped here.
  const noise = /missing tensor|failed to load model|Failed simulating model resource usage/;
  llama ??= import('node-llama-cpp').then(({ getLlama, LlamaLogLevel }) =>
    getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, progressLogs: false, logger: (level, message) => {
      if (!noise.test(message)) console.error(`[llama.cpp ${level}] ${message}`);
    } }));
  return llama;
}

const dirs: string[] = [];
/** Loads GGUF bytes in llama.cpp (vocabOnly: just the tokenizer). */
export async function loadInLlamaCpp(bytes: Uint8Array, opts: { vocabOnly?: boolean } = {}): Promise<LlamaModel> {
  const dir = mkdtempSync(join(tmpdir(), 'steerlab-oracle-'));
  dirs.push(dir);
  const p = join(dir, 'model.gguf');
  writeFileSync(p, bytes);
  return (await oracle()).loadModel({ modelPath: p, vocabOnly: opts.vocabOnly ?? false });
}
export function cleanupOracleFiles(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/**
 * Next-token probabilities from llama.cpp after each of `ids` (positions `at`), on a fresh
 * context with an F32 KV cache (its default F16 cache would add its own rounding).
 */
export async function llamaCppProbs(model: LlamaModel, ids: number[], at: number[], opts: { kvF32?: boolean } = {}): Promise<Map<number, number>[]> {
  const ctx = await model.createContext({
    contextSize: Math.max(64, ids.length + 8),
    // One thread: llama.cpp's workers spin while waiting, which costs 3-4x on a loaded 2-core machine.
    threads: 1,
    ...(opts.kvF32 === false ? {} : { experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32' }),
  } as Parameters<LlamaModel['createContext']>[0]);
  try {
    const want = new Set(at);
    const input: ControlledEvaluateInputItem[] = ids.map((t, i) => (want.has(i) ? [t as Token, { generateNext: { probabilities: true } }] : (t as Token)));
    const out = await ctx.getSequence().controlledEvaluate(input);
    return at.map((i) => out[i]!.next!.probabilities!);
  } finally {
    await ctx.dispose();
  }
}

const gemma = findKnownModel('gemma3-270m')!;
export const GEMMA_MODEL = process.env.STEERLAB_GEMMA_GGUF || knownModelPath(gemma);
export const needsGemma = requirement({
  available: existsSync(GEMMA_MODEL),
  optOut: SKIP_REAL_VARIABLE,
  message: `Gemma 3 270M missing at ${GEMMA_MODEL}; run: node bin/steerlab.mjs model fetch gemma3-270m; set ${SKIP_REAL_VARIABLE}=1 to skip the real-model tests explicitly`,
});

/**
 * A small SentencePiece vocabulary of n >= 259 tokens (<unk>, <s>, </s>, the 256 byte tokens,
 * then printable characters): enough for llama.cpp to load a tiny model (node-llama-cpp
 * tokenizes a few strings while loading, and SentencePiece falls back to byte tokens).
 */
export function tinySpmVocab(n: number): GgufMetadataEntry[] {
  const bytes = Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
  const tokens = ['<unk>', '<s>', '</s>', ...bytes, ...Array.from({ length: n - 259 }, (_, i) => String.fromCodePoint(0x21 + i))];
  const types = new Int32Array(n).fill(1);
  types[0] = 2;
  types[1] = 3;
  types[2] = 3;
  types.fill(6, 3, 259);
  const U32 = GgufValueType.UINT32;
  return [
    ['tokenizer.ggml.model', 'llama'],
    ['tokenizer.ggml.tokens', tokens],
    ['tokenizer.ggml.scores', Float32Array.from(tokens, (_, i) => -i)],
    ['tokenizer.ggml.token_type', types],
    ['tokenizer.ggml.bos_token_id', 1, U32],
    ['tokenizer.ggml.eos_token_id', 2, U32],
    ['tokenizer.ggml.unknown_token_id', 0, U32],
  ];
}
