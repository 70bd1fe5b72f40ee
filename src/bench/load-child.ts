/** Child process for the load benchmark: prints one JSON line with timings and RSS. */
import { readFileSync } from 'node:fs';
import { nodeRuntime } from '../engine/runtime/node.js';
import { openGguf } from '../engine/sources/gguf.js';

const gc = (globalThis as { gc?: () => void }).gc!;
// Load the runtime and tokenizer library first so their code is not counted as model memory.
await import('@huggingface/transformers');
gc();
const rssBefore = process.memoryUsage().rss;
const t0 = performance.now();
let bytes: Uint8Array | null = new Uint8Array(readFileSync(process.argv[2]!));
const { session, timings } = await openGguf(nodeRuntime, bytes, 'bench');
const totalMs = performance.now() - t0;
bytes = null; // the session keeps what it needs; the file buffer can go
const out = await session.forward(session.newCache(), [1, 2, 3]);
if (!out.logits.length) throw new Error('no logits');
for (let i = 0; i < 3; i++) {
  gc();
  await new Promise((r) => setTimeout(r, 50));
}
const after = process.memoryUsage();
process.stdout.write(`${JSON.stringify({ ...timings, totalMs, rssBeforeBytes: rssBefore, rssAfterBytes: after.rss, jsHeapBytes: after.heapUsed, jsExternalBytes: after.external })}\n`);
