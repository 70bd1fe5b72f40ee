/**
 * Resolves a `<model>` argument in Node: a .gguf path, a local folder in transformers.js layout,
 * a hub id, `default` (the cached SmolLM2-135M-Instruct GGUF) or another name `model fetch` knows.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SteerlabError } from '../errors.js';
import { nodeRuntime } from '../engine/runtime/node.js';
import type { ModelSession } from '../engine/session.js';
import { urlSource, HUB_BASE, type FileSource } from '../engine/sources/files.js';
import { openFolder } from '../engine/sources/folder.js';
import { openGguf } from '../engine/sources/gguf.js';
import { defaultModelPath } from './cache.js';
import { openGgufCached } from './converted.js';
import { findKnownModel, knownModelPath } from './registry.js';

export function folderSource(dir: string): FileSource {
  return {
    where: dir,
    async read(name) {
      const p = join(dir, name);
      return existsSync(p) ? new Uint8Array(readFileSync(p)) : null;
    },
  };
}

/**
 * The file a `<model>` argument names: 'default' and the other registry names ('smollm2-135m',
 * 'gemma3-270m') mean their file in the cache, unless a file or folder of that name exists here.
 */
export function modelPath(spec: string): string {
  if (spec === 'default') return defaultModelPath();
  const known = findKnownModel(spec);
  return known && !existsSync(spec) ? knownModelPath(known) : spec;
}

export interface LoadOptions {
  dtype?: string;
  accuracyLevel?: number;
  /** Reuse/keep the converted GGUF on disk (default true; STEERLAB_NO_CONVERT_CACHE=1 turns it off). */
  convertCache?: boolean;
  /**
   * GGUF: the graph the browser's wasm device runs (float32 block linears, an 8-bit lm_head in
   * the wasm kernel), converted in memory: the converted cache holds Node's 4-bit graph only.
   */
  floatLinears?: boolean;
}

export async function loadModel(spec: string, opts: LoadOptions = {}): Promise<ModelSession> {
  const p = modelPath(spec);
  if (p.toLowerCase().endsWith('.gguf')) {
    if (!existsSync(p)) {
      const known = findKnownModel(spec);
      throw new SteerlabError(
        'MODEL_NOT_FOUND',
        spec === 'default' ? `default model not in the cache (${p}); run: steerlab model fetch` : known ? `${spec} not in the cache (${p}); run: steerlab model fetch ${known.name}` : `no such file: ${p}`,
      );
    }
    const modelId = spec === 'default' ? 'SmolLM2-135M-Instruct.Q4_1.gguf' : p.split('/').pop()!;
    if (opts.convertCache === false || opts.floatLinears || process.env.STEERLAB_NO_CONVERT_CACHE) {
      return (await openGguf(nodeRuntime, new Uint8Array(readFileSync(p)), modelId, { accuracyLevel: opts.accuracyLevel, floatLinears: opts.floatLinears })).session;
    }
    return (await openGgufCached(p, modelId, { accuracyLevel: opts.accuracyLevel, log: (l) => process.stderr.write(`${l}\n`) })).session;
  }
  if (existsSync(p) && statSync(p).isDirectory()) return openFolder(nodeRuntime, folderSource(resolve(p)), p, opts.dtype ?? 'fp32');
  if (/^[\w.-]+\/[\w.-]+$/.test(spec)) {
    return openFolder(nodeRuntime, urlSource(`${HUB_BASE}/${spec}/resolve/main`), spec, opts.dtype ?? 'q4');
  }
  throw new SteerlabError('MODEL_NOT_FOUND', `'${spec}' is not a .gguf file, a model folder, or a hub id (owner/name)`);
}
