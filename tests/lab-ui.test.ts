/**
 * The lab page's state without a browser: the run and vector stores (IndexedDB through idb, on
 * fake-indexeddb), the Agent panel's state driving real episodes (baseline policies through the
 * worker's EpisodeRunner, so no model is needed), Compare, Fork, the seed queue, storage full and
 * recovery, the URL setup, and the pure helpers behind the charts and exports.
 */
import 'fake-indexeddb/auto';
import { strFromU8, unzipSync } from 'fflate';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { actionLabels, importScenario } from '../src/ui/games.js';
import type { Scenario } from '../src/envs/scenario.js';

const actionLabelsOf = (s: Scenario) => actionLabels('east-gauss2', { preset: 'equal' }, s);
import { parseTrace } from '../src/trace/jsonl.js';
import type { StepRecord } from '../src/trace/schema.js';
import { AgentState } from '../src/ui/agent.svelte.js';
import { invalidAlarm } from '../src/ui/alarm.js';
import { actionCounts, betaChanges, compareColumns, regretColumns, stackedProbColumns } from '../src/ui/chart.js';
import { runsSvg } from '../src/ui/chart-export.js';
import { applySetup, labSetup } from '../src/ui/lab-setup.js';
import { readVectorBytes, replayRequest } from '../src/ui/library.svelte.js';
import { RunsState } from '../src/ui/runs.svelte.js';
import { parseSeedQueue } from '../src/ui/seeds.js';
import { decodeSetup, encodeSetup } from '../src/ui/setup.js';
import { betaFromLog, logFromBeta, SteeringState } from '../src/ui/steering.svelte.js';
import { openLabDb, type LabDb } from '../src/ui/store/db.js';
import { RunStore, STORAGE_FULL_MESSAGE } from '../src/ui/store/runs.js';
import { VectorStore } from '../src/ui/store/vectors.js';
import { comparisonZip } from '../src/ui/zip.js';
import { restoreLast, saveSetup } from '../src/ui/persist.svelte.js';
import { ControlVector } from '../src/steering/control-vector.js';
import { threadPlan } from '../src/engine/runtime/threads.js';
import { EpisodeRunner } from '../src/workers/episode.js';
import type { ModelClient } from '../src/workers/client.js';

let dbCount = 0;
const freshDb = () => openLabDb(`test-${++dbCount}`);

/** A ModelClient whose episodes are the worker's own EpisodeRunner without a model (baselines only). */
function baselineClient(): ModelClient {
  const runner = new EpisodeRunner();
  const no = async () => {
    throw new Error('not in this test');
  };
  return {
    runEpisode: (req, onStep) => runner.run(null, req, onStep),
    setSteering: async () => {},
    setVReason: async () => {},
    setAutopilot: async (s) => runner.setAutopilot(s),
    stopEpisode: async () => runner.stop(),
    pauseEpisode: async () => runner.pause(),
    resumeEpisode: async () => runner.resume(),
    stepEpisode: async () => runner.step(),
    residualNorms: async () => [],
    eastVector: no,
    loadModel: no,
    generate: no,
    devices: no,
    cachedModels: async () => [],
    clearModelCache: async () => ({ removed: 0 }),
    deleteCachedModel: async () => {},
    dispose: async () => {},
    terminate: () => {},
    restart: () => {},
    onCrash: () => () => {},
  };
}

async function labStates(db: () => Promise<LabDb> = freshDb) {
  const client = baselineClient();
  const steering = new SteeringState({ info: { layers: 3, hidden: 8 } });
  const runs = new RunsState(null);
  await runs.init(async () => new RunStore(await db()));
  let agent: AgentState;
  agent = new AgentState(client, steering, runs, () => labSetup(agent, steering));
  agent.env = 'east-gauss2';
  agent.scenario = 'east-buttons';
  agent.policy = 'ucb';
  agent.horizon = 6;
  return { agent, runs, steering, client };
}

describe('the run store', () => {
  it('keeps a run step by step, lists it newest first, and marks one cut off as interrupted', async () => {
    const db = await freshDb();
    const store = new RunStore(db);
    const { agent, runs, steering } = await labStates(async () => db);
    await agent.run();
    expect(agent.status).toBe('done');
    await runs.flushed();
    const [run] = await store.list();
    expect(run!.status).toBe('done');
    expect(run!.steps).toBe(6);
    expect(run!.setup.policy).toBe('ucb');
    expect(run!.summary?.steps).toBe(6);
    expect(await store.steps(run!.id)).toEqual(agent.steps);
    // a page that went away mid-run leaves 'running'; the next page marks it interrupted with its saved steps
    const cut = await store.create({ name: 'cut', setup: labSetup(agent, steering), steering: 'none' });
    await store.append(cut.id, agent.steps[0]!);
    await store.append(cut.id, agent.steps[1]!);
    const again = new RunsState(null);
    await again.init(async () => new RunStore(db));
    expect(again.recovered).toBe(1);
    const r = again.list.find((x) => x.id === cut.id)!;
    expect(r.status).toBe('interrupted');
    expect(r.steps).toBe(2);
    expect(again.list[0]!.id).toBe(cut.id);
    await again.rename(cut.id, 'renamed');
    expect(again.list.find((x) => x.id === cut.id)!.name).toBe('renamed');
    await again.remove(cut.id);
    expect(await store.steps(cut.id)).toEqual([]);
    expect((await store.list()).map((x) => x.id)).toEqual([run!.id]);
  });

  it('storage full: says so once, and the run goes on in memory to the end', async () => {
    const db = await freshDb();
    const full = new Proxy(db, {
      get(target, prop) {
        if (prop === 'put' || prop === 'transaction') {
          return () => {
            throw new DOMException('quota', 'QuotaExceededError');
          };
        }
        const v = Reflect.get(target, prop);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const { agent, runs } = await labStates(async () => full as LabDb);
    await agent.run();
    expect(agent.status).toBe('done');
    expect(agent.steps).toHaveLength(6);
    expect(agent.summary?.steps).toBe(6);
    expect(runs.problem).toBe(STORAGE_FULL_MESSAGE);
  });

  it('without IndexedDB the page says runs are not kept, and runs still play', async () => {
    const runs = new RunsState(null);
    await runs.init(async () => {
      throw new DOMException('blocked', 'SecurityError');
    });
    expect(runs.problem).toMatch(/^runs are not kept: IndexedDB is unavailable/);
  });
});

describe('the Agent panel state', () => {
  it('a seed queue plays each seed in order and keeps every run', async () => {
    const { agent, runs } = await labStates();
    agent.queue = '3-5';
    await agent.run();
    await runs.flushed();
    expect(runs.list.map((r) => r.setup.seed).sort()).toEqual([3, 4, 5]);
    expect(runs.list.every((r) => r.status === 'done' && r.steps === 6)).toBe(true);
    agent.queue = '5-3';
    await agent.run();
    expect(agent.error).toBe("BAD_ARGUMENT: seed queue: range '5-3' runs backwards");
  });

  it('Compare plays the same seed as A (a baseline) and B, kept as one group', async () => {
    const { agent, runs } = await labStates();
    agent.compareAgainst = 'random';
    agent.seed = 9;
    const group = await agent.compare();
    expect(group).toMatch(/^cmp-/);
    expect(agent.compareA?.label).toBe('A: random');
    expect(agent.compareA?.steps).toHaveLength(6);
    // the pair is in the run list, side A the older: tick both and compare them there
    for (const r of runs.list.filter((x) => x.compare?.group === group)) runs.toggle(r.id);
    await runs.compareSelected();
    const [a, b] = runs.pair!;
    expect([a.run.compare?.side, b.run.compare?.side]).toEqual(['A', 'B']);
    expect(a.run.setup.policy).toBe('random');
    expect(b.run.setup.policy).toBe('ucb');
    expect(a.steps[0]!.config.seed).toBe(9);
    expect(b.steps[0]!.config.seed).toBe(9);
    expect(a.steps.map((s) => s.config.policy)).toEqual(Array(6).fill('random'));
  });

  it('Fork replays a stored run to step t and holds there; Resume finishes it', async () => {
    const { agent, runs, steering } = await labStates();
    agent.seed = 4;
    await agent.run();
    await runs.flushed();
    const original = runs.list[0]!;
    agent.seed = 99;
    agent.policy = 'random';
    const forked = agent.fork(original, 3, (s) => applySetup(s, agent, steering));
    await expect.poll(() => agent.steps.length).toBe(3);
    expect(agent.status).toBe('paused');
    // the fork replays the stored setup: same seed and policy, so the same first steps
    expect(agent.seed).toBe(4);
    expect(agent.policy).toBe('ucb');
    expect(agent.steps.map((s) => s.action)).toEqual((await runs.load(original.id)).steps.slice(0, 3).map((s) => s.action));
    await agent.resume();
    await forked;
    expect(agent.status).toBe('done');
    await runs.flushed();
    const f = runs.list.find((r) => r.forkOf)!;
    expect(f.forkOf).toEqual({ run: original.id, step: 3 });
    expect(f.steps).toBe(6);
  });

  it('the invalid-answer alarm fires when no-choice steps jump, and names the β', () => {
    const step = (i: number, valid: boolean, beta = 0): StepRecord =>
      ({ step: i, valid, formatBroken: !valid, steering: beta ? { layer: 1, beta } : null }) as unknown as StepRecord;
    const calm = Array.from({ length: 10 }, (_, i) => step(i, true));
    expect(invalidAlarm(calm)).toBeNull();
    const broke = [...calm, ...Array.from({ length: 5 }, (_, i) => step(10 + i, i === 0, 40))];
    expect(invalidAlarm(broke)).toBe('invalid answers jumped to 80 % over steps 10–14 (0 % before), at β 40: the answer format is breaking, so entropy there is not a choice');
    // always broken from the start is still an alarm (from the start)
    expect(invalidAlarm(Array.from({ length: 4 }, (_, i) => step(i, false)))).toMatch(/from the start/);
  });
});

describe('the setup in a link', () => {
  it('round-trips the controls through the URL fragment', async () => {
    const { agent, steering } = await labStates();
    agent.seed = 12;
    agent.mode = 'thought';
    agent.vreason = { ...agent.vreason, on: true, steps: 3 };
    steering.beta = -4.5;
    steering.layer = 2;
    steering.scale = 'log';
    const s = labSetup(agent, steering);
    const fragment = encodeSetup(s);
    expect(fragment).toMatch(/^setup=[A-Za-z0-9_-]+$/);
    const other = await labStates();
    applySetup(decodeSetup(`#${fragment}`)!, other.agent, other.steering);
    expect(labSetup(other.agent, other.steering)).toEqual(s);
    expect(decodeSetup('#other')).toBeNull();
  });

  // (the page saves through an effect on every change: tests/browser/lab.test.ts reloads and finds them)
  it('the controls are saved and restored on the next visit', async () => {
    const db = await freshDb();
    const { agent, steering } = await labStates(async () => db);
    agent.seed = 31;
    steering.beta = 2.5;
    await saveSetup(db, labSetup(agent, steering));
    const other = await labStates();
    expect(await restoreLast(db, (s) => applySetup(s, other.agent, other.steering))).toBe(true);
    expect(labSetup(other.agent, other.steering)).toEqual(labSetup(agent, steering));
    expect(await restoreLast(await freshDb(), () => {})).toBe(false);
  });

  it('a bad link gives one line', () => {
    expect(() => decodeSetup('#setup=%%%')).toThrow("the link's setup is not valid base64url JSON (was it cut short?)");
    const bad = btoa(JSON.stringify({ v: 1 })).replace(/=+$/, '');
    expect(() => decodeSetup(`#setup=${bad}`)).toThrow(/^the link's setup is invalid: env: /);
  });
});

describe('pure helpers of the page', () => {
  const steps = [
    { step: 0, actionProbs: [0.25, 0.75], action: 1, reward: 1, cumRegret: 0, valid: true, entropy: 0.56, validMass: 0.9, steering: null },
    { step: 1, actionProbs: null, action: null, reward: 0, cumRegret: 0.5, valid: false, formatBroken: true, entropy: 0.69, validMass: 0.01, steering: { layer: 1, beta: 8 } },
    { step: 2, actionProbs: [0.5, 0.5], action: 0, reward: 2, cumRegret: 0.5, valid: true, entropy: 0.69, steering: { layer: 1, beta: 8 } },
  ] as unknown as StepRecord[];

  it('shapes chart columns: stacked probabilities, regret and reward, counts, β changes, two runs on one axis', () => {
    expect(stackedProbColumns(steps, 2)).toEqual([[0, 1, 2], [0.25, null, 0.5], [1, null, 1]]);
    expect(regretColumns(steps)).toEqual([[0, 1, 2], [0, 0.5, 0.5], [1, 1, 3]]);
    expect(actionCounts(steps, 2)).toEqual([1, 1]);
    expect(betaChanges(steps)).toEqual([{ step: 1, beta: 8 }]);
    const c = compareColumns(steps, steps.slice(0, 1));
    // the format-broken step is a gap, never its (high) entropy
    expect(c[1]).toEqual([0.56, null, 0.69]);
    expect(c[2]).toEqual([0.56, null, null]);
    expect(c[3]).toEqual([0.9, 0.01, null]);
  });

  it('zips a comparison whose traces parse back, with the chart as SVG', async () => {
    const { agent } = await labStates();
    await agent.run();
    const real = agent.steps;
    const zip = unzipSync(comparisonZip({ label: 'A: unsteered', steps: real, summary: agent.summary }, { label: 'B: steered', steps: real.slice(0, 2), summary: null }, Math.log(2)));
    expect(Object.keys(zip).sort()).toEqual(['A.csv', 'A.jsonl', 'A.summary.json', 'B.csv', 'B.jsonl', 'B.summary.json', 'README.txt', 'chart.svg']);
    expect(strFromU8(zip['chart.svg']!)).toMatch(/^<svg[\s\S]*A: unsteered[\s\S]*<\/svg>\s*$/);
    expect(strFromU8(zip['B.csv']!).trim().split('\n')).toHaveLength(3);
    expect(parseTrace(strFromU8(zip['A.jsonl']!))).toEqual([...real, agent.summary]);
    expect(runsSvg([{ label: 'x', steps }], Math.log(2))).not.toMatch(/NaN/);
  });

  it('the log slider maps back and forth, 0 at the middle and ±span at the ends', () => {
    expect(betaFromLog(0, 200)).toBe(0);
    expect(betaFromLog(1, 200)).toBe(200);
    expect(betaFromLog(-1, 200)).toBe(-200);
    for (const b of [-150, -3, 0.5, 8, 64]) expect(betaFromLog(logFromBeta(b, 200), 200)).toBeCloseTo(b, 1);
  });

  it('the seed queue', () => {
    expect(parseSeedQueue('1-3, 10')).toEqual([1, 2, 3, 10]);
    expect(() => parseSeedQueue('a')).toThrow("seed queue: 'a' is not a seed or a range like 1-5");
    expect(() => parseSeedQueue('1-5000')).toThrow('seed queue: more than 1000 seeds');
  });

  it('threads: all cores only when cross-origin isolated, else one with the reason', () => {
    expect(threadPlan({ crossOriginIsolated: true, navigator: { hardwareConcurrency: 8 } })).toEqual({ threads: 8, reason: null });
    expect(threadPlan({ crossOriginIsolated: false, navigator: { hardwareConcurrency: 8 } })).toEqual({ threads: 1, reason: 'the page is not cross-origin isolated (no COOP/COEP headers), so wasm runs on one thread' });
  });

  it('vector files: steerlab JSON and llama.cpp GGUF are read, anything else refused in one line', async () => {
    const v = ControlVector.single(1, Float32Array.from({ length: 8 }, (_, i) => i - 3), { id: 'x' });
    expect(readVectorBytes(new TextEncoder().encode(v.toJson()), 'a.json').directions[0]!.vector).toEqual(v.directions[0]!.vector);
    expect(readVectorBytes(v.toGguf(), 'a.gguf').directions[0]!.vector).toEqual(v.directions[0]!.vector);
    expect(() => readVectorBytes(new TextEncoder().encode('{"layer":'), 'b.json')).toThrow(/^vector file is not JSON/);
    const store = new VectorStore(await freshDb());
    const row = await store.add(v, 'mine', 'file');
    await store.rename(row.id, 'renamed');
    expect((await store.list()).map((r) => r.name)).toEqual(['renamed']);
    await store.delete(row.id);
    expect(await store.list()).toEqual([]);
  });

  it('a stored run replays as the episode it was (unsteered)', async () => {
    const { agent, runs } = await labStates();
    agent.seed = 2;
    await agent.run();
    await runs.flushed();
    const req = replayRequest(runs.list[0]!);
    expect(req).toMatchObject({ env: 'east-gauss2', scenario: 'east-buttons', seed: 2, horizon: 6, mode: 'exact' });
    expect(req.steering).toBeUndefined();
  });
});

describe('public/', () => {
  it('the static-host headers file sends what the preview server sends', async () => {
    const { CONTENT_SECURITY_POLICY, ISOLATION_HEADERS } = await import('../vite.config.js');
    const text = readFileSync('public/_headers', 'utf8');
    const header = (name: string) => new RegExp(`^\\s+${name}: (.*)$`, 'm').exec(text)?.[1];
    expect(header('Content-Security-Policy')).toBe(CONTENT_SECURITY_POLICY);
    expect(CONTENT_SECURITY_POLICY).toMatch(/script-src 'self' 'wasm-unsafe-eval'/);
    expect(CONTENT_SECURITY_POLICY.split(/[; ]+/)).not.toContain("'unsafe-eval'");
    for (const [k, v] of Object.entries(ISOLATION_HEADERS)) expect(header(k)).toBe(v);
  });

  it('the example scenario imports into its game and the example vector reads', () => {
    const s = importScenario(readFileSync('public/examples/scenario-two-lamps.json', 'utf8'), 'east-gauss2', { preset: 'equal' });
    expect(actionLabelsOf(s)).toEqual(['Lamp 1', 'Lamp 2']);
    expect(() => importScenario(readFileSync('src/scenarios/east-buttons.json', 'utf8'), 'east-gauss2', {})).toThrow("scenario id 'east-buttons' is built in; give your scenario another id");
    expect(() => importScenario('{"id": 3}', 'east-gauss2', {})).toThrow(/^scenario '3': /);
    const v = readVectorBytes(readFileSync('public/examples/east-vector-smollm2-L10.json'), 'east.json');
    expect(v.layers).toEqual([10]);
    expect(v.hidden).toBe(576);
  });
});
