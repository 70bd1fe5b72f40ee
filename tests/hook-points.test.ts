/**
 * The hook-point table and the forward request shape on tiny models in both export styles:
 * additions land exactly on the positions they name, reads and value-cache edits go through the
 * same request, and unknown names and positions are refused with one line.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOOK_POINTS, resolveHook, residPost, valueHook, type HookAdd, type Positions } from '../src/engine/hook-points.js';
import { openTiny, type TinyModel } from './helpers/tiny.js';

const PROMPT = [5, 17, 42, 8, 91, 33, 2];
const GEN = [11, 60];

describe.each(['genai', 'optimum'] as const)('hook points on a tiny %s model', (style) => {
  let t: TinyModel;
  beforeAll(async () => {
    t = await openTiny(style, 'fp32');
  });
  afterAll(async () => t.session.dispose());

  /** resid_post at layer L for every prompt and generated position, with `add` given to both forwards. */
  async function residAt(L: number, add: HookAdd[] | null): Promise<Float32Array[]> {
    const c = t.session.newCache();
    const read = (n: number) => ({ hooks: [residPost(L)], at: Array.from({ length: n }, (_, i) => i) });
    const p = await t.session.forward(c, PROMPT, { region: 'prompt', add, read: read(PROMPT.length) });
    const g = await t.session.forward(c, GEN, { region: 'generated', add, read: read(GEN.length) });
    c.dispose();
    return [...PROMPT.map((_, i) => p.acts.row(residPost(L), i)), ...GEN.map((_, i) => g.acts.row(residPost(L), i))];
  }

  it.each(['all', 'prompt', 'generated'] as Positions[])("positions '%s': the steered positions, and only those, move by beta·v at the hook", async (positions) => {
    const L = 1;
    const beta = 1.75;
    const v = Float32Array.from({ length: t.cfg.hidden }, (_, i) => Math.cos(i * 0.9) * 0.6);
    const plain = await residAt(L, null);
    const steered = await residAt(L, [{ hook: residPost(L), vector: v, scale: beta, positions }]);
    const covers = (i: number) => positions === 'all' || (positions === 'prompt') === i < PROMPT.length;
    let moved = 0;
    steered.forEach((row, i) => {
      if (covers(i)) {
        moved++;
        row.forEach((x, k) => expect(Math.abs(x - plain[i]![k]! - beta * v[k]!)).toBeLessThan(1e-5));
      } else expect(Array.from(row)).toEqual(Array.from(plain[i]!));
    });
    expect(moved).toBe(positions === 'all' ? 9 : positions === 'prompt' ? 7 : 2);
  });

  it('blocks.{L}.hook_resid_pre is the output of block L-1, for reading and for adding', async () => {
    const c = t.session.newCache();
    const r = await t.session.forward(c, PROMPT, { read: { hooks: ['blocks.2.hook_resid_pre', residPost(1)], at: [3] } });
    expect(Array.from(r.acts.get('blocks.2.hook_resid_pre'))).toEqual(Array.from(r.acts.get(residPost(1))));
    const v = Float32Array.from({ length: t.cfg.hidden }, (_, i) => Math.sin(i));
    const pre = await t.session.forward(t.session.newCache(), PROMPT, { add: [{ hook: 'blocks.2.hook_resid_pre', vector: v, scale: 2 }] });
    const post = await t.session.forward(t.session.newCache(), PROMPT, { add: [{ hook: residPost(1), vector: v, scale: 2 }] });
    expect(Array.from(pre.logits)).toEqual(Array.from(post.logits));
    c.dispose();
  });

  it('blocks.{L}.attn.hook_v reads the value cache and edits it through the same request', async () => {
    const L = t.cfg.layers - 1;
    const c = t.session.newCache();
    const r = await t.session.forward(c, PROMPT, { read: { hooks: [valueHook(L)] } });
    const whole = await t.session.readValues(c, L, 0, PROMPT.length);
    expect(Array.from(r.acts.get(valueHook(L)))).toEqual(Array.from(whole));
    // An edit in the request equals writeValues followed by the forward.
    const rows = (await t.session.readValues(c, L, 1, 3)).map((x, i) => x * 0.5 + Math.sin(i) * 0.2);
    const viaRequest = c.fork();
    const viaWrite = c.fork();
    const a = await t.session.forward(viaRequest, [21], { region: 'generated', edit: [{ hook: valueHook(L), start: 1, values: rows }] });
    await t.session.writeValues(viaWrite, L, 1, rows);
    const b = await t.session.forward(viaWrite, [21], { region: 'generated' });
    expect(Array.from(a.logits)).toEqual(Array.from(b.logits));
    const unedited = await t.session.forward(c, [21], { region: 'generated' });
    expect(Math.max(...a.logits.map((x, i) => Math.abs(x - unedited.logits[i]!)))).toBeGreaterThan(1e-4);
    for (const k of [c, viaRequest, viaWrite]) k.dispose();
  });

  it('unknown hook names, unexposed points, bad layers and bad positions are refused with one line', async () => {
    const c = t.session.newCache();
    const v = new Float32Array(t.cfg.hidden);
    const fails = async (req: Parameters<typeof t.session.forward>[2]) => {
      const e = await t.session.forward(c, PROMPT, req).then(() => null, (x: Error) => x);
      expect(e).not.toBeNull();
      expect(e!.message).not.toMatch(/\n/);
      return e as Error & { code: string };
    };
    expect((await fails({ add: [{ hook: 'blocks.1.hook_resid_foo', vector: v }] })).message).toMatch(/^unknown hook point 'blocks.1.hook_resid_foo' \(known: blocks.\{L\}.hook_resid_pre/);
    expect((await fails({ read: { hooks: ['resid_post'] } })).message).toMatch(/unknown hook point 'resid_post'/);
    expect((await fails({ read: { hooks: ['blocks.1.hook_resid_mid'] } })).message).toMatch(/is not exposed/);
    expect((await fails({ read: { hooks: ['ln_final'] } })).message).toMatch(/is not exposed/);
    expect((await fails({ add: [{ hook: valueHook(1), vector: v }] })).message).toMatch(/cannot be used to add/);
    expect((await fails({ add: [{ hook: 'blocks.0.hook_resid_pre', vector: v }] })).message).toMatch(/embedding output/);
    expect(await fails({ add: [{ hook: residPost(t.cfg.layers), vector: v }] })).toMatchObject({ code: 'BAD_SHAPE' });
    expect((await fails({ add: [{ hook: residPost(0), vector: v, positions: 'everywhere' as never }] })).message).toBe("unknown positions 'everywhere' (all, prompt, generated)");
    expect((await fails({ read: { hooks: [residPost(0)], at: [PROMPT.length] } })).message).toMatch(/outside this chunk/);
    c.dispose();
  });
});

describe('the hook-point table', () => {
  it('names every point as TransformerLens does, and resolves layers', () => {
    expect(HOOK_POINTS.map((h) => h.template)).toEqual(['blocks.{L}.hook_resid_pre', 'blocks.{L}.hook_resid_mid', 'blocks.{L}.hook_resid_post', 'blocks.{L}.attn.hook_v', 'ln_final']);
    expect(resolveHook('blocks.12.hook_resid_post', 'add', 30)).toMatchObject({ kind: 'resid_post', layer: 12, row: 12 });
    expect(resolveHook('blocks.12.hook_resid_pre', 'read', 30)).toMatchObject({ kind: 'resid_pre', layer: 12, row: 11 });
    expect(resolveHook('blocks.29.attn.hook_v', 'edit', 30)).toMatchObject({ kind: 'v', layer: 29 });
  });
});
