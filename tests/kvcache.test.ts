// Host rows: growing a cache keeps its rows and never disturbs a fork's, in place when the
// buffers are reserved up to the model's context length.
import { describe, expect, it } from 'vitest';
import { KVCache, TensorPool, type HostLayout } from '../src/engine/kvcache.js';

const rowLen = 2 * 4;

/** Appends rows [from, upto) with value (row + 1) * tag, as a forward would. */
function append(c: KVCache, upto: number, tag: number) {
  const from = c.length;
  const { data } = c.hostWritable(from, upto);
  for (let l = 0; l < c.layers; l++) for (const w of [0, 1] as const) for (let r = from; r < upto; r++) data[l]![w].fill((r + 1) * tag, r * rowLen, (r + 1) * rowLen);
  c.setHostLength(upto);
}

function rowsOk(c: KVCache, tagOf: (row: number) => number) {
  for (let l = 0; l < c.layers; l++) {
    for (const w of [0, 1] as const) {
      const d = c.hostRows(l, w).data;
      for (let r = 0; r < c.length; r++) if (d[r * rowLen] !== (r + 1) * tagOf(r) || d[(r + 1) * rowLen - 1] !== (r + 1) * tagOf(r)) return false;
    }
  }
  return true;
}

describe('host rows', () => {
  const layout: HostLayout = { kvHeads: 2, headDim: 4, half: false, maxRows: 5000 };

  it('grow in place, capped at the maximum, and keep every row', () => {
    const pool = new TensorPool();
    const c = new KVCache(pool, 3, layout);
    append(c, 100, 1);
    const first = c.hostRows(0, 0).data;
    const caps = [c.hostRows(0, 0).capacity];
    for (let n = 200; n <= 5000; n += 300) {
      append(c, Math.min(n, 5000), 1);
      caps.push(c.hostRows(0, 0).capacity);
    }
    append(c, 5000, 1);
    expect(caps.length).toBeGreaterThan(3);
    expect(new Set(caps).size).toBeGreaterThan(3);
    expect(Math.max(...caps)).toBe(5000);
    // The same array object throughout: nothing was reallocated or copied.
    expect(c.hostRows(0, 0).data).toBe(first);
    expect(first.length).toBe(5000 * rowLen);
    expect(rowsOk(c, () => 1)).toBe(true);
    expect(pool.size).toBe(1);
    c.dispose();
    expect(pool.size).toBe(0);
  });

  it('a fork writing past its siblings grows the shared arrays; one writing over them copies', () => {
    const pool = new TensorPool();
    const c = new KVCache(pool, 2, layout);
    append(c, 250, 1);
    const a = c.fork();
    append(a, 900, 2); // past c's 250 rows: in place, growing
    expect(a.hostRows(0, 0).data).toBe(c.hostRows(0, 0).data);
    expect(rowsOk(c, () => 1)).toBe(true);
    const b = c.fork();
    append(b, 260, 3); // rows a holds: b copies its 250 first
    expect(b.hostRows(0, 0).data).not.toBe(a.hostRows(0, 0).data);
    expect(rowsOk(b, (r) => (r < 250 ? 1 : 3))).toBe(true);
    expect(rowsOk(a, (r) => (r < 250 ? 1 : 2))).toBe(true);
    expect(rowsOk(c, () => 1)).toBe(true);
    expect(pool.size).toBe(2);
    for (const x of [a, b, c]) x.dispose();
    expect(pool.size).toBe(0);
  });

  it('without a known maximum, growth copies and keeps the rows', () => {
    const c = new KVCache(new TensorPool(), 2, { kvHeads: 2, headDim: 4, half: true });
    append(c, 300, 1);
    const first = c.hostRows(1, 1).data;
    append(c, 1000, 1);
    expect(c.hostRows(1, 1).data).not.toBe(first);
    expect(c.hostRows(1, 1).data).toBeInstanceOf(Uint16Array);
    expect(rowsOk(c, () => 1)).toBe(true);
    c.dispose();
  });
});
