/** The entropy autopilot: a clamped PI controller on action entropy, pure and checked on a synthetic plant. */
import { describe, expect, it } from 'vitest';
import { autopilotStep, checkAutopilot, parseAutopilot } from '../src/steering/autopilot.js';
import type { StepRecord } from '../src/trace/schema.js';
import { randomVector, steeringWire } from '../src/ui/vectors.js';
import { useTinyChar } from './helpers/tiny.js';

describe('entropy autopilot', () => {
  // A plant like the lab's: entropy rises with beta up to ln 2, and the format breaks past beta 3.
  const plant = (beta: number) => (beta > 3 ? null : Math.log(2) / (1 + Math.exp(-(beta - 0.5))));

  it('holds a reachable target entropy', () => {
    const s = checkAutopilot({ target: 0.5, kp: 1, ki: 0.2 });
    let st = { beta: 0, integral: 0 };
    const hs: number[] = [];
    for (let t = 0; t < 60; t++) {
      const h = plant(st.beta);
      hs.push(h ?? Number.NaN);
      st = autopilotStep(s, st, h);
    }
    expect(Math.abs(hs.at(-1)! - 0.5)).toBeLessThan(0.01);
  });

  it('backs off after a format-broken step and stays within its bounds', () => {
    const s = checkAutopilot({ target: 0.69, kp: 4, ki: 1, max: 5, min: -1, backoff: 0.5 });
    let st = { beta: 2.9, integral: 0 };
    let broke = 0;
    for (let t = 0; t < 40; t++) {
      const h = plant(st.beta);
      const next = autopilotStep(s, st, h);
      if (h === null) {
        broke++;
        expect(next.beta).toBeCloseTo(st.beta * 0.5, 12);
        expect(next.integral).toBe(0);
      }
      expect(next.beta).toBeLessThanOrEqual(5);
      expect(next.beta).toBeGreaterThanOrEqual(-1);
      st = next;
    }
    expect(broke).toBeGreaterThan(0);
  });

  it('parses target=..,kp=.. and refuses bad fields in one line', () => {
    expect(parseAutopilot('target=0.6,kp=1')).toMatchObject({ target: 0.6, kp: 1, ki: 0.5 });
    expect(() => parseAutopilot('kp=1')).toThrow(/field 'target'/);
    expect(() => parseAutopilot('target=0.5,gain=2')).toThrow(/unknown field 'gain'/);
    expect(() => parseAutopilot('target=0.5,min=3,max=1')).toThrow(/'min'/);
    expect(() => parseAutopilot('target=x')).toThrow(/needs one number/);
  });
});

describe("the autopilot in the worker's episode runner", () => {
  const t = useTinyChar();
  const base = { env: 'east-gauss2', envOptions: { preset: 'equal' }, scenario: 'east-buttons', mode: 'exact' as const, temperature: 1, seed: 3, horizon: 6, minValidMass: 0 };

  it('sets each next step\'s β from this step\'s entropy, with no lag, and keeps it when the page moves the slider', async () => {
    const { EpisodeRunner } = await import('../src/workers/episode.js');
    const runner = new EpisodeRunner();
    const steering = steeringWire(randomVector(t.session.info.hidden, 7, 1), 4, 'all');
    const pilot = { target: 0.69, kp: 30, ki: 5, min: -60, max: 60, backoff: 0.5 };
    const records: StepRecord[] = [];
    await runner.run(t.session, { ...base, steering, autopilot: pilot }, (r) => {
      records.push(r);
      // the page moving β mid-run does not override the autopilot
      if (r.step === 2) runner.setSteering({ ...steering, beta: 999 }, t.session.info);
    });
    expect(records).toHaveLength(6);
    let st = { beta: 4, integral: 0 };
    const s = checkAutopilot(pilot);
    for (const r of records) {
      expect(r.steering?.beta ?? 0).toBeCloseTo(st.beta, 12);
      st = autopilotStep(s, st, r.valid && !r.formatBroken ? r.entropy : null);
    }
    expect(new Set(records.map((r) => r.steering?.beta)).size).toBeGreaterThan(2);
  });

  it('needs a steering vector', async () => {
    const { EpisodeRunner } = await import('../src/workers/episode.js');
    await expect(new EpisodeRunner().run(t.session, { ...base, autopilot: { target: 0.5 } })).rejects.toThrow('the autopilot sets the strength of a steering vector: choose one first');
  });
});
