/**
 * Child process for the load benchmark: prints one JSON line with timings and RSS.
 * argv: <gguf path> <memory|cached>. 'memory' converts in memory every time (the browser's
 * path); 'cached' uses Node's converted-model cache (run twice: first converts, then reuses).
 */
import { nodeRuntime } from '../engine/runtime/node.js';
import { openGguf } from '../engine/sources/gguf.js';
import { openGgufCached } from '../node/converted.js';
import { readFileSync } from 'node:fs';
import { EXTERNAL_DATA_NAME } from '../engine/onnx/decoder.js';
import { statusBytes } from './proc-mem.js';

/**
 * Anonymous and file-backed RSS, the RSS of the mapped converted weights, and that of onnxruntime's
 * own library files (code touched on first use: the same for every model, shared between
 * processes). Linux only; null elsewhere.
 */
function memParts(): { anon: number; file: number; mappedWeights: number; runtimeLibrary: number } | null {
  const [anon, file] = statusBytes('RssAnon', 'RssFile');
  if (anon === null || file === null) return null;
  try {
    let mapped = 0;
    let library = 0;
    let where: 'weights' | 'library' | null = null;
    for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
      if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) {
        const mapping = line.trimEnd();
        where = mapping.endsWith(`/${EXTERNAL_DATA_NAME}`) ? 'weights' : /\/(libonnxruntime[^/]*\.so[^/]*|onnxruntime_binding\.node)$/.test(mapping) ? 'library' : null;
      } else if (where && line.startsWith('Rss:')) {
        const bytes = Number(line.split(/\s+/)[1]) * 1024;
        if (where === 'weights') mapped += bytes;
        else library += bytes;
      }
    }
    return { anon, file, mappedWeights: mapped, runtimeLibrary: library };
  } catch {
    return null;
  }
}

const gc = (globalThis as { gc?: () => void }).gc!;
// Load the runtime and tokenizer library first so their code is not counted as model memory.
await import('@huggingface/transformers');
gc();
const rssBefore = process.memoryUsage().rss;
const partsBefore = memParts();
const heapBefore = process.memoryUsage().heapUsed;
const t0 = performance.now();
const [path, mode] = [process.argv[2]!, process.argv[3] ?? 'memory'];
let extra: Record<string, unknown> = {};
let session;
if (mode === 'cached') {
  const r = await openGgufCached(path, 'bench');
  session = r.session;
  extra = { reusedConversion: r.info.cached };
} else {
  const r = await openGguf(nodeRuntime, new Uint8Array(readFileSync(path)), 'bench');
  session = r.session;
  extra = { ...r.timings };
}
const totalMs = performance.now() - t0;
const out = await session.forward(session.newCache(), [1, 2, 3]);
if (!out.logits.length) throw new Error('no logits');
for (let i = 0; i < 3; i++) {
  gc();
  await new Promise((r) => setTimeout(r, 50));
}
const after = process.memoryUsage();
const partsAfter = memParts();
// Where the resident memory went: anonymous (onnxruntime's prepacked weights and arena, the JS
// heap), file-backed (the mapped weights that were read, library code), and the JS heap alone.
const parts = partsBefore && partsAfter
  ? {
      anonBytes: partsAfter.anon - partsBefore.anon,
      fileBytes: partsAfter.file - partsBefore.file,
      mappedWeightsBytes: partsAfter.mappedWeights,
      runtimeLibraryBytes: partsAfter.runtimeLibrary - partsBefore.runtimeLibrary,
      jsHeapBytes: after.heapUsed - heapBefore,
    }
  : null;
process.stdout.write(`${JSON.stringify({ mode, ...extra, totalMs, rssBeforeBytes: rssBefore, rssAfterBytes: after.rss, parts })}\n`);
