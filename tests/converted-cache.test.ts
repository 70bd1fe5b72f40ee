import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { openGgufCached } from '../src/node/converted.js';
import { needsRealModel, REAL_MODEL } from './helpers/real.js';

const saved = process.env.STEERLAB_CACHE;
afterEach(() => {
  if (saved === undefined) delete process.env.STEERLAB_CACHE;
  else process.env.STEERLAB_CACHE = saved;
});

needsRealModel.describe("Node's converted-model cache", () => {
  it('the first load converts and stores; the second reuses it and gives identical logits', async () => {
    process.env.STEERLAB_CACHE = mkdtempSync(join(tmpdir(), 'steerlab-conv-'));
    const a = await openGgufCached(REAL_MODEL, 'smol');
    expect(a.info.cached).toBe(false);
    expect(readdirSync(a.info.dir).sort()).toEqual(['manifest.json', 'model.onnx', 'model.onnx_data']);
    const b = await openGgufCached(REAL_MODEL, 'smol');
    expect(b.info.cached).toBe(true);
    expect(b.session.info).toMatchObject({ style: 'genai', layers: 30, hash: a.session.info.hash });
    const ids = b.session.encode('The capital of France is');
    const la = (await a.session.forward(a.session.newCache(), ids)).logits;
    const lb = (await b.session.forward(b.session.newCache(), ids)).logits;
    expect(Array.from(lb)).toEqual(Array.from(la));
    await a.session.dispose();
    await b.session.dispose();
  });

  it('an unwritable cache is reported and the model still loads from memory', async () => {
    // A cache path below a regular file cannot be created, even by root.
    const root = mkdtempSync(join(tmpdir(), 'steerlab-ro-'));
    writeFileSync(join(root, 'blocker'), 'x');
    process.env.STEERLAB_CACHE = join(root, 'blocker', 'cache');
    const lines: string[] = [];
    const r = await openGgufCached(REAL_MODEL, 'smol', { log: (l) => lines.push(l) });
    expect(r.info.cached).toBe(false);
    expect(lines.join('\n')).toMatch(/could not cache the converted model/);
    expect((await r.session.forward(r.session.newCache(), [1, 2, 3])).logits.length).toBe(49152);
    await r.session.dispose();
  });
});
