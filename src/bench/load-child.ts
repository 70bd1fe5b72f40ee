/**
 * Child process for the load benchmark: prints one JSON line with timings and RSS.
 * argv: <gguf path> <memory|cached>. 'memory' converts in memory every time (the browser's
 * path); 'cached' uses Node's converted-model cache (run twice: first converts, then reuses).
 */
import { nodeRuntime } from '../engine/runtime/node.js';
import { openGguf } from '../engine/sources/gguf.js';
import { openGgufCached } from '../node/converted.js';
import { readFileSync } from 'node:fs';

const gc = (globalThis as { gc?: () => void }).gc!;
// Load the runtime and tokenizer library first so their code is not counted as model memory.
await import('@huggingface/transformers');
gc();
const rssBefore = process.memoryUsage().rss;
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
process.stdout.write(`${JSON.stringify({ mode, ...extra, totalMs, rssBeforeBytes: rssBefore, rssAfterBytes: after.rss })}\n`);
