/**
 * Child process for the load benchmark: prints one JSON line with timings and RSS.
 * argv: <gguf path> <memory|cached> [warm]. 'memory' converts in memory every time (the browser's
 * path); 'cached' uses Node's converted-model cache (run twice: first converts, then reuses).
 * 'warm' first runs a tiny converted GGUF through the same code, so onnxruntime's own code pages
 * (file-backed, shared, the same for every model) are resident before the baseline is taken.
 */
import { nodeRuntime } from '../engine/runtime/node.js';
import { openGguf } from '../engine/sources/gguf.js';
import { openGgufCached } from '../node/converted.js';
import { readFileSync } from 'node:fs';
import { EXTERNAL_DATA_NAME } from '../engine/onnx/decoder.js';

/** Anonymous and file-backed RSS, and the RSS of the mapped converted weights (Linux; null elsewhere). */
function memParts(): { anon: number; file: number; mappedWeights: number } | null {
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)![1]) * 1024;
    let mapped = 0;
    let inWeights = false;
    for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
      if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) inWeights = line.trimEnd().endsWith(`/${EXTERNAL_DATA_NAME}`);
      else if (inWeights && line.startsWith('Rss:')) mapped += Number(line.split(/\s+/)[1]) * 1024;
    }
    return { anon: kb('RssAnon'), file: kb('RssFile'), mappedWeights: mapped };
  } catch {
    return null;
  }
}

const gc = (globalThis as { gc?: () => void }).gc!;
// Load the runtime and tokenizer library first so their code is not counted as model memory.
await import('@huggingface/transformers');
if (process.argv[4] === 'warm') {
  const { tinyConfig, tinyWeights } = await import('../testing/tiny.js');
  const { writeTinyGguf } = await import('../testing/tiny-gguf.js');
  const { ggufToGraph } = await import('../engine/sources/gguf.js');
  const { openGraph } = await import('../engine/open.js');
  const { EXTERNAL_DATA_NAME: ext } = await import('../engine/onnx/decoder.js');
  const cfg = tinyConfig();
  const { graph, data } = ggufToGraph(writeTinyGguf(cfg, tinyWeights(cfg, 1), { weightType: 3 /* Q4_1 */, embedType: 8 /* Q8_0 */ }), { embedTable: 'own' });
  const noText = { encode: () => [], decode: () => '', applyChatTemplate: () => '', eosIds: [0], bosId: null };
  const tiny = await openGraph(nodeRuntime, graph, { modelId: 'warm', hash: 'warm', architecture: 'llama', heads: cfg.heads, kvHeads: cfg.kvHeads, headDim: cfg.headDim, vocab: cfg.vocab }, noText, { externalData: [{ path: ext, data }] });
  await tiny.forward(tiny.newCache(), [1, 2, 3]);
  await tiny.dispose();
}
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
  ? { anonBytes: partsAfter.anon - partsBefore.anon, fileBytes: partsAfter.file - partsBefore.file, mappedWeightsBytes: partsAfter.mappedWeights, jsHeapBytes: after.heapUsed - heapBefore }
  : null;
process.stdout.write(`${JSON.stringify({ mode, ...extra, totalMs, rssBeforeBytes: rssBefore, rssAfterBytes: after.rss, parts })}\n`);
