/**
 * Worker work the lab page asks for besides generation and episodes:
 *  - residualNorms: each block's typical residual norm (hook_resid_post, mean over the positions
 *    of a short chat prompt), so the layer picker can show a vector's norm against it;
 *  - eastFromRuns: an EAST vector (and its shuffled control) from stored runs, each replayed
 *    unsteered with its own seed and settings (exact mode is deterministic, so the replay is the
 *    run), keeping the residual at the steered position for every valid step.
 */
import { collectEastRuns } from '../agent/east-collect.js';
import { SteerlabError } from '../errors.js';
import type { ModelSession } from '../engine/session.js';
import { getScenario, loadScenario } from '../envs/scenario.js';
import type { EastRun } from '../steering/east.js';
import { ControlVector } from '../steering/control-vector.js';
import type { EastRequest, EastResult } from './api.js';

export const NORM_PROMPT = 'You are playing a game. Choose one of the options and answer with its name.';

export async function residualNorms(session: ModelSession): Promise<number[]> {
  const { layers } = session.info;
  const ids = session.encode(session.chat([{ role: 'user', content: NORM_PROMPT }]));
  const hooks = Array.from({ length: layers }, (_, l) => `blocks.${l}.hook_resid_post`);
  const at = ids.map((_, i) => i).slice(1); // position 0 (BOS / first token) has an outlying norm in most models
  const cache = session.newCache();
  try {
    const { acts } = await session.forward(cache, ids, { read: { hooks, at } });
    return hooks.map((h) => {
      let total = 0;
      for (let i = 0; i < at.length; i++) {
        const r = acts.row(h, i);
        let s = 0;
        for (const x of r) s += x * x;
        total += Math.sqrt(s);
      }
      return total / at.length;
    });
  } finally {
    cache.dispose();
  }
}

export async function eastFromRuns(session: ModelSession, req: EastRequest, pause: () => Promise<void>): Promise<EastResult> {
  if (!req.runs.length) throw new SteerlabError('BAD_ARGUMENT', 'EAST needs at least one stored run');
  if (!Number.isInteger(req.layer) || req.layer < 0 || req.layer >= session.info.layers) {
    throw new SteerlabError('BAD_ARGUMENT', `layer must be 0..${session.info.layers - 1}, got ${req.layer}`);
  }
  const all: EastRun[] = [];
  let steps = 0;
  for (const r of req.runs) {
    if (r.mode !== 'exact') throw new SteerlabError('BAD_ARGUMENT', `EAST in the page replays exact-mode runs; run ${r.seed} is ${r.mode}`);
    await pause();
    const c = await collectEastRuns(session, {
      envId: r.env,
      envOptions: r.envOptions,
      scenario: typeof r.scenario === 'string' ? getScenario(r.scenario) : loadScenario(r.scenario),
      episodes: 1,
      horizon: r.horizon,
      seed: r.seed,
      layers: [req.layer],
      temperature: r.temperature,
      minValidMass: r.minValidMass,
    });
    all.push(...c.runs.get(req.layer)!);
    steps += c.steps;
  }
  if (steps < 2) throw new SteerlabError('BAD_ARGUMENT', `the runs have ${steps} valid step${steps === 1 ? '' : 's'}; EAST needs at least 2`);
  const runs = new Map([[req.layer, all]]);
  const meta = { model: { id: session.info.modelId, hash: session.info.hash }, options: { runs: req.runs.length } };
  const vector = ControlVector.fromRuns(runs, 'east', { ...meta, id: `east@${req.layer}` });
  const shuffled = ControlVector.fromRuns(runs, 'shuffled', { ...meta, id: `shuffled@${req.layer}` });
  return { vector: vector.toData(), shuffled: shuffled.toData(), steps };
}
