/**
 * V-Reason: the sign rule, the norm-preserving update, the last block's tail against the model,
 * the exact gradient against finite differences, that dV touches only its rows, that the plumbing
 * changes nothing when unused, action-level scores against exact scoring, and bad settings.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runEpisode } from '../src/agent/agent.js';
import type { KVCache } from '../src/engine/kvcache.js';
import { tailForward } from '../src/engine/tail/forward.js';
import { tailFromWeights } from '../src/engine/tail/weights.js';
import { createEnv } from '../src/envs/registry.js';
import { getScenario } from '../src/envs/scenario.js';
import { loadModel } from '../src/node/models.js';
import type { ModelSession } from '../src/engine/session.js';
import { gradCheck } from '../src/steering/vreason/gradcheck.js';
import { generateWithVReason, tailHook, TokenVReason } from '../src/steering/vreason/run.js';
import { checkVReason, parseVReason, VREASON_DEFAULTS } from '../src/steering/vreason/settings.js';
import { newSwitch, observe } from '../src/steering/vreason/switch.js';
import { actionObjective, normPreserve, normPreserveBack, tokenObjective } from '../src/steering/vreason/update.js';
import { Rng } from '../src/util/rng.js';
import { openTiny, useTinyChar, type TinyModel } from './helpers/tiny.js';
import { needsRealModel, REAL_MODEL } from './helpers/real.js';

describe('the switching rule', () => {
  const run = (hs: number[], mode: 'switch' | 'down' | 'up', beta = 0.5) => {
    let s = newSwitch();
    return hs.map((h) => {
      const o = observe(s, h, beta, mode);
      s = o.state;
      return { alpha: o.alpha, ema: o.state.ema!, peak: o.state.peak };
    });
  };

  it('raises entropy while its EMA climbs and lowers it once the EMA falls below its peak', () => {
    const r = run([1, 2, 3, 2, 1, 0.5, 4], 'switch');
    // ema: 1, 1.5, 2.25, 2.125, 1.5625, 1.03, 2.52 (peak stays 2.25)
    expect(r.map((x) => x.alpha)).toEqual([1, 1, 1, -1, -1, -1, 1]);
    expect(r[3]!.ema).toBeCloseTo(2.125, 12);
    expect(r[5]!.peak).toBeCloseTo(2.25, 12);
  });

  it('stays down after the global peak of a single-peaked sequence; the ablations keep one sign', () => {
    const hs = [0.2, 0.8, 1.5, 1.2, 0.9, 0.7, 0.6, 0.65, 0.7];
    const r = run(hs, 'switch', 0.8);
    const firstDown = r.findIndex((x) => x.alpha === -1);
    expect(firstDown).toBeGreaterThan(0);
    expect(r.slice(firstDown).every((x) => x.alpha === -1)).toBe(true);
    expect(run(hs, 'down').every((x) => x.alpha === -1)).toBe(true);
    expect(run(hs, 'up').every((x) => x.alpha === 1)).toBe(true);
  });
});

describe('the norm-preserving update and the objectives', () => {
  const rng = new Rng(3);
  const rand = (n: number, s = 1) => Float64Array.from({ length: n }, () => s * (rng.next() * 2 - 1));

  it('keeps every row norm and reduces to V at dV = 0', () => {
    const D = 8, v0 = Float32Array.from(rand(5 * D, 2)), dv = rand(5 * D, 3);
    const out = normPreserve(v0, dv, D);
    for (let r = 0; r < 5; r++) {
      const n = (a: ArrayLike<number>) => Math.hypot(...Array.from({ length: D }, (_, d) => a[r * D + d]!));
      expect(n(out)).toBeCloseTo(n(v0), 10);
    }
    expect(Array.from(normPreserve(v0, new Float64Array(5 * D), D))).toEqual(Array.from(v0, Number));
  });

  it('its backward matches central differences', () => {
    const D = 6, v0 = Float32Array.from(rand(3 * D, 1)), dv = rand(3 * D, 0.5), w = rand(3 * D, 1);
    const f = (x: Float64Array) => normPreserve(v0, x, D).reduce((a, v, i) => a + v * w[i]!, 0);
    const g = normPreserveBack(v0, dv, w, D);
    for (let i = 0; i < dv.length; i++) {
      const p = dv.slice(), m = dv.slice();
      p[i] += 1e-6;
      m[i] -= 1e-6;
      expect(g[i]).toBeCloseTo((f(p) - f(m)) / 2e-6, 6);
    }
  });

  it('token objective: alpha * (log V - H), with its logit gradient', () => {
    const l = [1, 2, 0.5, -1];
    const o = tokenObjective(l, -1);
    const z = l.reduce((a, x) => a + Math.exp(x), 0);
    const p = l.map((x) => Math.exp(x) / z);
    const H = -p.reduce((a, x) => a + x * Math.log(x), 0);
    expect(o.entropy).toBeCloseTo(H, 12);
    expect(o.loss).toBeCloseTo(-(Math.log(4) - H), 12);
    for (let i = 0; i < 4; i++) {
      const up = l.slice(), dn = l.slice();
      up[i]! += 1e-6;
      dn[i]! -= 1e-6;
      expect(o.grad[i]).toBeCloseTo((tokenObjective(up, -1).loss - tokenObjective(dn, -1).loss) / 2e-6, 6);
    }
  });

  it('action objective: entropy of the renormalised answers minus mass x log(valid mass)', () => {
    const l = [-0.5, -1.7, -3];
    const o = actionObjective(l, 1, 2);
    const M = l.reduce((a, x) => a + Math.exp(x), 0);
    expect(o.validMass).toBeCloseTo(M, 12);
    for (let i = 0; i < 3; i++) {
      const up = l.slice(), dn = l.slice();
      up[i]! += 1e-6;
      dn[i]! -= 1e-6;
      expect(o.grad[i]).toBeCloseTo((actionObjective(up, 1, 2).loss - actionObjective(dn, 1, 2).loss) / 2e-6, 6);
    }
  });
});

describe('settings', () => {
  it('parses the CLI form and fills the defaults', () => {
    expect(parseVReason('k=3,steps=1,lr=0.1,mode=down,level=action')).toEqual({ ...VREASON_DEFAULTS, every: 3, steps: 1, lr: 0.1, mode: 'down', level: 'action' });
    expect(parseVReason('on')).toEqual(VREASON_DEFAULTS);
  });

  it.each([
    ['k=0', /field 'every'/],
    ['steps=two', /field 'steps' is not a number/],
    ['mode=sideways', /field 'mode'/],
    ['lr', /field 'lr' needs one value/],
    ['speed=3', /unknown field 'speed'/],
  ])('refuses %s with a one-line error naming the field', (text, msg) => {
    expect(() => parseVReason(text)).toThrow(msg);
    try {
      parseVReason(text);
    } catch (e) {
      expect((e as Error).message).not.toContain('\n');
    }
  });

  it('checks objects from the worker API the same way', () => {
    expect(() => checkVReason({ ema: 1 })).toThrow(/'ema'/);
  });
});

describe.each(['genai', 'optimum'] as const)('the last block\'s tail, tiny %s model', (style) => {
  let m: TinyModel;
  beforeAll(async () => {
    m = await openTiny(style, 'fp32');
  });
  afterAll(async () => m.session.dispose());

  it('read back from the graph, it reproduces the model\'s logits and equals the converter\'s weights', async () => {
    const s = m.session;
    const ids = [3, 5, 8, 13, 21, 34, 55, 9, 11];
    const c = s.newCache();
    const r = await s.forward(c, ids, { read: { hooks: [tailHook(s.info.layers)] } });
    const T = c.length;
    const site = { x: r.acts.row(tailHook(s.info.layers), 0), pos: T - 1, keys: await s.readKeys(c, s.info.layers - 1, 0, T), values: await s.readValues(c, s.info.layers - 1, 0, T), T };
    const fromGraph = tailForward(await s.tail(), site).logits;
    const fromWeights = tailForward(tailFromWeights(m.cfg, m.weights), site).logits;
    for (let i = 0; i < fromGraph.length; i++) {
      expect(Math.abs(fromGraph[i]! - r.logits[i]!)).toBeLessThan(1e-4);
      expect(Math.abs(fromGraph[i]! - fromWeights[i]!)).toBeLessThan(1e-9);
    }
    c.dispose();
  });

  it('the exact gradient matches finite differences through the model (max relative error < 1e-3)', async () => {
    const r = await gradCheck(m.session, [3, 5, 8, 13, 21, 34, 55, 9, 11], { directions: 4 });
    expect(r.tailError).toBeLessThan(1e-4);
    expect(r.maxRelError).toBeLessThan(1e-3);
  });
});

describe('V-Reason on the tiny character model', () => {
  const t = useTinyChar();
  const S = { ...VREASON_DEFAULTS, every: 1, steps: 2, lr: 0.05 };

  async function layerRows(s: ModelSession, c: KVCache) {
    const out: Float32Array[] = [];
    for (let l = 0; l < s.info.layers; l++) out.push(await s.readKeys(c, l, 0, c.length), await s.readValues(c, l, 0, c.length));
    return out;
  }

  it('dV changes only the last layer\'s value rows of its span; restore makes the cache a plain one', async () => {
    const s = t.session;
    const prompt = s.encode('user: pick a door\nassistant: ');
    const span = { start: 2, end: 12 };
    const rng = new Rng(5);
    const vr = await TokenVReason.create(s, span, S);
    const g = await s.generate(prompt, { maxNewTokens: 6, temperature: 1, random: () => rng.next(), read: vr.read, beforeSample: vr.beforeSample });
    expect(vr.records.filter((r) => r.steps > 0).length).toBe(6);
    // The same tokens fed one by one without V-Reason: the plain cache for this text.
    const plain = s.newCache();
    await s.forward(plain, prompt);
    for (const id of g.ids.slice(0, -1)) await s.forward(plain, [id], { region: 'generated' });
    const [a, b] = [await layerRows(s, g.cache), await layerRows(s, plain)];
    const L = s.info.layers - 1, { kvHeads, headDim } = s.info, T = plain.length;
    for (let i = 0; i < a.length; i++) {
      if (i !== 2 * L + 1) {
        expect(a[i]).toEqual(b[i]);
        continue;
      }
      for (let h = 0; h < kvHeads; h++) for (let p = 0; p < T; p++) {
        const row = (x: Float32Array) => Array.from(x.subarray((h * T + p) * headDim, (h * T + p + 1) * headDim));
        const inSpan = p >= span.start && p < span.end;
        if (inSpan) {
          expect(row(a[i]!)).not.toEqual(row(b[i]!));
          // Norm preserved row by row.
          expect(Math.hypot(...row(a[i]!))).toBeCloseTo(Math.hypot(...row(b[i]!)), 4);
        } else expect(row(a[i]!)).toEqual(row(b[i]!));
      }
    }
    await vr.restore(g.cache);
    expect(await layerRows(s, g.cache)).toEqual(b);
    g.cache.dispose();
    plain.dispose();
  });

  it('each update moves the token entropy the way alpha says', async () => {
    const s = t.session;
    for (const mode of ['up', 'down'] as const) {
      const r = await generateWithVReason(s, s.encode('user: hello\nassistant: '), { maxNewTokens: 4, temperature: 1, random: (() => { const g = new Rng(1); return () => g.next(); })() }, { ...S, mode });
      r.cache.dispose();
      for (const rec of r.vreason.filter((x) => x.steps > 0)) {
        if (mode === 'up') expect(rec.entropyAfter!).toBeGreaterThan(rec.entropy);
        else expect(rec.entropyAfter!).toBeLessThan(rec.entropy);
      }
    }
  });

  it('the read/beforeSample plumbing changes nothing when it edits nothing, and off means the plain run', async () => {
    const s = t.session;
    const prompt = s.encode('user: count\nassistant: ');
    const gen = async (extra: object) => {
      const rng = new Rng(9);
      const r = await s.generate(prompt, { maxNewTokens: 8, temperature: 1, random: () => rng.next(), ...extra });
      r.cache.dispose();
      return r;
    };
    const plain = await gen({});
    const hooked = await gen({ read: [tailHook(s.info.layers)], beforeSample: () => undefined });
    expect(hooked.ids).toEqual(plain.ids);
    expect(hooked.tokens).toEqual(plain.tokens);
    const env = () => createEnv('east-gauss2', { preset: 'equal' });
    const base = { mode: 'thought' as const, samples: 2, maxThoughtTokens: 6, temperature: 1, horizon: 2 };
    const a = await runEpisode(s, env(), getScenario('east-buttons-transcript'), 4, base);
    const b = await runEpisode(s, env(), getScenario('east-buttons-transcript'), 4, { ...base, vreason: null });
    const strip = (steps: typeof a.steps) => steps.map(({ timings: _t, ...rest }) => rest);
    expect(strip(b.steps)).toEqual(strip(a.steps));
  });

  it('action level: at a vanishing step size its scores are exact scoring\'s, multi-token answers included', async () => {
    const s = t.session;
    const env = () => createEnv('bernoulli-easy');
    const scenario = getScenario('krishnamurthy-buttons');
    const base = { mode: 'exact' as const, horizon: 2, minValidMass: 0 };
    const plain = await runEpisode(s, env(), scenario, 1, base);
    const vr = await runEpisode(s, env(), scenario, 1, { ...base, vreason: { ...VREASON_DEFAULTS, level: 'action', lr: 1e-9, steps: 1 } });
    for (let i = 0; i < plain.steps.length; i++) {
      const [p, v] = [plain.steps[i]!.extra!.logprobs as number[], vr.steps[i]!.extra!.logprobs as number[]];
      p.forEach((x, k) => expect(Math.abs(x - v[k]!)).toBeLessThan(1e-4));
      expect((vr.steps[i]!.extra!.vreason as { tailError: number }).tailError).toBeLessThan(1e-4);
    }
    expect(vr.steps[0]!.config.vreason?.level).toBe('action');
    expect(vr.steps[0]!.runId).not.toBe(plain.steps[0]!.runId);
  });

  it('action level raises (up) or lowers (down) the action entropy it optimises', async () => {
    const s = t.session;
    for (const mode of ['up', 'down'] as const) {
      const r = await runEpisode(s, createEnv('east-gauss2', { preset: 'equal' }), getScenario('east-buttons'), 2, { mode: 'exact', horizon: 2, minValidMass: 0, vreason: { ...VREASON_DEFAULTS, level: 'action', mode, mass: 0, lr: 0.05 } });
      for (const st of r.steps) {
        const rec = st.extra!.vreason as { entropy: number; entropyAfter: number };
        if (mode === 'up') expect(rec.entropyAfter).toBeGreaterThan(rec.entropy);
        else expect(rec.entropyAfter).toBeLessThan(rec.entropy);
      }
    }
  });

  it('refuses levels a mode cannot use, with one line', async () => {
    const env = createEnv('east-gauss2', { preset: 'equal' });
    await expect(runEpisode(t.session, env, getScenario('east-buttons'), 0, { mode: 'exact', vreason: VREASON_DEFAULTS })).rejects.toThrow(/level 'token' needs generated text/);
    await expect(runEpisode(t.session, env, getScenario('east-buttons'), 0, { mode: 'sampled', vreason: { ...VREASON_DEFAULTS, level: 'action' } })).rejects.toThrow(/needs an exact action distribution/);
  });
});

needsRealModel.describe('V-Reason on SmolLM2-135M-Instruct', () => {
  let s: ModelSession;
  beforeAll(async () => {
    s = await loadModel(REAL_MODEL);
  });
  afterAll(async () => s?.dispose());

  it('the gradient through the quantised tail matches finite differences through the model', async () => {
    const r = await gradCheck(s, s.encode('The three primary colours are red, yellow and'), { directions: 4 });
    expect(r.tailError).toBeLessThan(1e-3);
    expect(r.maxRelError).toBeLessThan(1e-3);
  });
});

describe('V-Reason through the worker\'s episode runner', () => {
  const t = useTinyChar();

  it('is off until setVReason turns it on between steps, and the settings are checked', async () => {
    const { EpisodeRunner } = await import('../src/workers/episode.js');
    const runner = new EpisodeRunner();
    expect(() => runner.setVReason({ every: 0 })).toThrow(/'every'/);
    const seen: boolean[] = [];
    await runner.run(t.session, { env: 'east-gauss2', envOptions: { preset: 'equal' }, scenario: 'east-buttons', mode: 'exact', temperature: 1, seed: 3, horizon: 3, minValidMass: 0 }, (rec) => {
      seen.push(rec.extra?.vreason !== undefined);
      if (rec.step === 0) runner.setVReason({ level: 'action', mode: 'up' });
    });
    expect(seen).toEqual([false, true, true]);
  });
});

describe('Pause and Step in the worker\'s episode runner', () => {
  const t = useTinyChar();

  it('a run started paused plays nothing until Step, exactly one step per Step, and all after Resume', async () => {
    const { EpisodeRunner } = await import('../src/workers/episode.js');
    const runner = new EpisodeRunner();
    let n = 0;
    const done = runner.run(t.session, { env: 'east-gauss2', envOptions: { preset: 'equal' }, scenario: 'east-buttons', mode: 'exact', temperature: 1, seed: 3, horizon: 4, minValidMass: 0, pauseAfter: 0 }, () => void n++);
    const settle = () => new Promise((r) => setTimeout(r, 200));
    const until = async (k: number) => {
      for (let i = 0; i < 200 && n < k; i++) await settle();
    };
    await settle();
    expect(n).toBe(0);
    expect(runner.state).toMatchObject({ running: true, paused: true });
    expect(runner.step()).toBe(true);
    await until(1);
    await settle();
    expect(n).toBe(1);
    runner.step();
    await until(2);
    await settle();
    expect(n).toBe(2);
    runner.resume();
    const r = await done;
    expect(n).toBe(4);
    expect(r.steps).toBe(4);
    expect(runner.pause()).toBe(false);
  });

  it('Stop ends a paused run', async () => {
    const { EpisodeRunner } = await import('../src/workers/episode.js');
    const runner = new EpisodeRunner();
    const done = runner.run(t.session, { env: 'east-gauss2', envOptions: { preset: 'equal' }, scenario: 'east-buttons', mode: 'exact', temperature: 1, seed: 3, horizon: 4, pauseAfter: 0 });
    await new Promise((r) => setTimeout(r, 50));
    runner.stop();
    expect(await done).toMatchObject({ steps: 0, stopped: true });
  });
});
