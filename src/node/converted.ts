/**
 * Node's cache of converted GGUF models: the hooked ONNX graph, its external weights and the
 * tokenizer files, keyed by the GGUF's sha256 (and converter version and settings). onnxruntime
 * then maps the weights from disk itself, so a load skips conversion and the converter's transient
 * buffers: it holds the prepacked weights and the mapped pages it reads (SmolLM2: about 1.5x the
 * GGUF size beyond onnxruntime's own code; see the load benchmark).
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SteerlabError } from '../errors.js';
import { ggufToHfTokenizer } from '../engine/gguf/tokenizer.js';
import { EXTERNAL_DATA_NAME } from '../engine/onnx/decoder.js';
import type { Anchors } from '../engine/onnx/hooks.js';
import { hookGraph, openHooked, type GraphMeta } from '../engine/open.js';
import { nodeRuntime } from '../engine/runtime/node.js';
import type { ModelSession } from '../engine/session.js';
import { ggufToGraph } from '../engine/sources/gguf.js';
import { hfTokenizer } from '../engine/text.js';
import { cacheDir } from './cache.js';
import { parseGguf } from '../engine/gguf/reader.js';
import { ggufConfig, ggufTailWeights } from '../engine/sources/convert.js';
import { tailFromWeights, type TailWeights } from '../engine/tail/weights.js';

/** Bump when the converter's output changes, so old conversions are not reused. */
const CONVERTER_VERSION = 11; // 7: the manifest records maxPositions; 8: present_rows outputs; 9: rows only; 10: token-major rows; 11: own embedding table

interface Manifest {
  version: number;
  meta: GraphMeta;
  anchors: Anchors;
  tokenizerJson: object;
  tokenizerConfig: Record<string, unknown>;
}

export interface CachedLoadInfo {
  cached: boolean;
  dir: string;
}

/** sha256 of a file read in chunks, so hashing never holds the whole file in memory. */
export function sha256File(path: string): string {
  const h = createHash('sha256');
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(8 << 20);
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0; ) h.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

function ggufTail(path: string): TailWeights {
  const bytes = new Uint8Array(readFileSync(path));
  const file = parseGguf(bytes);
  const cfg = ggufConfig(file);
  return tailFromWeights(cfg, ggufTailWeights(file, bytes, cfg));
}

export async function openGgufCached(path: string, modelId: string, opts: { accuracyLevel?: number; log?: (s: string) => void } = {}): Promise<{ session: ModelSession; info: CachedLoadInfo }> {
  const hash = sha256File(path);
  const acc = opts.accuracyLevel ?? 0;
  // Node runs on the CPU, so the graph keeps host rows (kv 'rows'). The options are in the key, so a
  // changed default can never reuse a conversion made for the old one (a v9 cache written before
  // rows became the default held GroupQueryAttention graphs, and a benchmark measured those).
  const kv = 'rows';
  // onnxruntime maps the cached weights from disk, so a tied embedding gets its own gather table
  // (see DecoderGraphOptions.embedTable): the lm_head's copy is prepacked and unmapped, the table
  // is resident only where rows are read.
  const dir = join(cacheDir(), 'converted', `${hash.slice(0, 32)}-v${CONVERTER_VERSION}-acc${acc}-${kv}`);
  const manifestPath = join(dir, 'manifest.json');
  const cached = existsSync(manifestPath);
  if (!cached) {
    // The temporary folder is made first: a cache that cannot be written at all gets the in-memory
    // layout (one copy of a tied embedding), since nothing will be mapped from disk.
    const tmp = `${dir}.tmp-${process.pid}`;
    let problem: Error | undefined;
    try {
      mkdirSync(tmp, { recursive: true });
    } catch (e) {
      problem = e as Error;
    }
    const { file, cfg, graph, data } = ggufToGraph(new Uint8Array(readFileSync(path)), { accuracyLevel: acc, kv, embedTable: problem ? 'shared' : 'own' });
    const { bytes: hooked, anchors } = hookGraph(graph);
    const { tokenizerJson, tokenizerConfig } = ggufToHfTokenizer(file);
    const manifest: Manifest = {
      version: CONVERTER_VERSION,
      meta: { modelId, hash, architecture: cfg.architecture, heads: cfg.heads, kvHeads: cfg.kvHeads, headDim: cfg.headDim, vocab: cfg.vocab, maxPositions: cfg.maxPositions },
      anchors,
      tokenizerJson,
      tokenizerConfig: tokenizerConfig as Record<string, unknown>,
    };
    if (!problem) {
      try {
        writeFileSync(join(tmp, 'model.onnx'), hooked);
        writeFileSync(join(tmp, EXTERNAL_DATA_NAME), data);
        writeFileSync(join(tmp, 'manifest.json'), JSON.stringify(manifest));
        rmSync(dir, { recursive: true, force: true });
        renameSync(tmp, dir); // a half-written conversion never sits at the final path
      } catch (e) {
        problem = e as Error;
        try {
          rmSync(tmp, { recursive: true, force: true });
        } catch {
          // the half-written folder could not be removed either; the next load writes a new one
        }
      }
    }
    if (problem) {
      // Not silent: say why, then run from memory (nothing is lost but the cache).
      opts.log?.(`steerlab: could not cache the converted model in ${dir} (${problem.message}); loading from memory`);
      const tokenizer = hfTokenizer(tokenizerJson, tokenizerConfig as Record<string, unknown>);
      const session = await openHooked(nodeRuntime, hooked, anchors, manifest.meta, tokenizer, { externalData: [{ path: EXTERNAL_DATA_NAME, data }], tail: { load: async () => ggufTail(path) } });
      return { session, info: { cached: false, dir } };
    }
  }
  let manifest: Manifest;
  try {
    manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as Manifest;
  } catch (e) {
    throw new SteerlabError('BAD_ARGUMENT', `converted-model cache ${dir} is unreadable (${(e as Error).message}); delete it and retry`);
  }
  const tokenizer = hfTokenizer(manifest.tokenizerJson, manifest.tokenizerConfig);
  // The last block's weights (V-Reason) are read from the GGUF again on first use, not kept by every session.
  const tail = { load: async () => ggufTail(path) };
  const session = await openHooked(nodeRuntime, join(dir, 'model.onnx'), manifest.anchors, { ...manifest.meta, modelId }, tokenizer, { tail });
  return { session, info: { cached, dir } };
}
