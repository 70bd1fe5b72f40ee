/** `steerlab run`, `steerlab metrics`, `steerlab envs`: games, agents, baselines and traces. */
import type { VReasonSettings } from '../steering/vreason/settings.js';
import { autopilotStep, type AutopilotSettings } from '../steering/autopilot.js';
import { steeringConfigOf } from '../episode/loop.js';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { runEpisode, type Mode } from '../agent/agent.js';
import { POLICY_NAMES, runBaseline, type PolicyName } from '../baselines/run.js';
import { SteerlabError } from '../errors.js';
import type { ModelSession } from '../engine/session.js';
import { createEnv, listEnvs } from '../envs/registry.js';
import { builtinScenarios, checkFits, getScenario, loadScenario, type Scenario } from '../envs/scenario.js';
import { aggregate, type RunSummary } from '../metrics/summary.js';
import { loadModel } from '../node/models.js';
import type { SteeringSetting } from '../steering/control-vector.js';
import { formatTraceLine, parseTrace, splitRuns, summaryRecordFor } from '../trace/jsonl.js';
import { toCsv } from '../trace/csv.js';
import type { SummaryRecord, TraceRecord } from '../trace/schema.js';
import { boolean, episodeFlags, int, oneOf, parseFlags, path, print, steeringFlags, autopilot } from './flags.js';
import { settingFromFlags } from './steering.js';

export function scenarioFrom(arg: string | undefined, envId: string): Scenario {
  if (arg === undefined) {
    const fit = builtinScenarios().find((s) => s.games.includes(envId));
    if (!fit) throw new SteerlabError('BAD_SCENARIO', `no built-in scenario fits env '${envId}'; pass --scenario FILE`);
    return fit;
  }
  if (arg.endsWith('.json')) {
    let text: string;
    try {
      text = readFileSync(arg, 'utf8');
    } catch (e) {
      throw new SteerlabError('BAD_ARGUMENT', `cannot read scenario file ${arg}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    return loadScenario(text);
  }
  return getScenario(arg);
}

/** The game and scenario of the episode flags, checked before any model is loaded. */
export function gameFrom(values: { env: string; 'env-options': Record<string, unknown>; scenario?: string; horizon?: number }): { envId: string; envOptions: Record<string, unknown>; scenario: Scenario } {
  const envId = values.env;
  const envOptions = values['env-options'];
  const env = createEnv(envId, { ...envOptions, ...(values.horizon ? { horizon: values.horizon } : {}) });
  const scenario = scenarioFrom(values.scenario, envId);
  checkFits(scenario, env);
  return { envId, envOptions, scenario };
}

/** A model is needed: one line naming the command's reason when --model is missing. */
export function needModel(model: string | undefined, why = ''): string {
  if (model === undefined) throw new SteerlabError('BAD_ARGUMENT', `--model is required${why}`);
  return model;
}

const aggregateOf = (summaries: RunSummary[]) => (summaries.length ? aggregate(summaries) : null);

export interface LlmRunArgs {
  session: ModelSession;
  envId: string;
  envOptions: Record<string, unknown>;
  scenario: Scenario;
  episodes: number;
  horizon?: number;
  seed: number;
  mode: Mode;
  samples?: number;
  temperature: number;
  minValidMass: number;
  steering: SteeringSetting | null;
  vreason?: VReasonSettings | null;
  /** Sets beta each step to hold a target action entropy (the steering's vector, from its beta). */
  autopilot?: AutopilotSettings | null;
  out?: string;
  onEpisode?: (s: SummaryRecord) => void;
}

/** Runs LLM episodes, appending each step to `out` as it happens (a crash keeps what was done). */
export async function runLlmEpisodes(a: LlmRunArgs): Promise<SummaryRecord[]> {
  a.steering?.vector.checkFits(a.session.info);
  const summaries: SummaryRecord[] = [];
  for (let e = 0; e < a.episodes; e++) {
    const env = createEnv(a.envId, { ...a.envOptions, ...(a.horizon ? { horizon: a.horizon } : {}) });
    const ap = a.autopilot ?? null;
    let pilot = { beta: a.steering?.beta ?? 0, integral: 0 };
    const steering = ap && a.steering ? () => ({ ...a.steering!, beta: pilot.beta }) : a.steering;
    const r = await runEpisode(a.session, env, a.scenario, a.seed + e, {
      mode: a.mode,
      samples: a.samples,
      temperature: a.temperature,
      minValidMass: a.minValidMass,
      vreason: a.vreason ?? null,
      horizon: a.horizon,
      steering,
      ...(ap && a.steering ? { steeringConfig: steeringConfigOf(a.steering, true) } : {}),
      onStep: (rec) => {
        if (ap) pilot = autopilotStep(ap, pilot, rec.valid && !rec.formatBroken ? rec.entropy : null);
        if (a.out) appendFileSync(a.out, formatTraceLine(rec));
      },
    });
    if (!r.summary) continue;
    if (a.out) appendFileSync(a.out, formatTraceLine(r.summary));
    summaries.push(r.summary);
    a.onEpisode?.(r.summary);
  }
  return summaries;
}

/** --policy: the LLM or a baseline ('egreedy' is short for 'eps-greedy'). */
export const RUN_POLICIES = ['llm', 'random', 'greedy', 'egreedy', 'eps-greedy', 'ucb', 'ts', 'optimal'] as const;

const runFlags = {
  ...episodeFlags,
  episodes: int({ min: 1 }).default(1),
  policy: oneOf(RUN_POLICIES).default('llm'),
  out: path().optional(),
  autopilot: autopilot().optional(),
  ...steeringFlags,
};

export async function runCommand(argv: string[]): Promise<void> {
  const { values } = parseFlags(argv, runFlags, {});
  const { envId, envOptions, scenario } = gameFrom(values);
  const { episodes, horizon, seed, policy, out } = values;
  let summaries: SummaryRecord[];
  if (policy === 'llm') {
    const model = needModel(values.model, ' for --policy llm');
    const steering = settingFromFlags(values);
    if (values.autopilot && !steering) throw new SteerlabError('BAD_ARGUMENT', '--autopilot sets the strength of a vector: it needs --vector FILE');
    if (out) writeFileSync(out, '');
    const session = await loadModel(model);
    try {
      summaries = await runLlmEpisodes({
        session, envId, envOptions, scenario, episodes, horizon, seed,
        mode: values.mode,
        samples: values.samples,
        minValidMass: values['min-valid-mass'],
        vreason: values.vreason ?? null,
        autopilot: values.autopilot ?? null,
        temperature: values.temperature,
        steering,
        out,
        onEpisode: (s) => process.stderr.write(`episode ${s.runId}: ${s.steps} steps, entropy ${s.summary.entropy?.toFixed(3) ?? '– (no choice step)'}\n`),
      });
    } finally {
      await session.dispose();
    }
  } else {
    const used = (['vector', 'layer', 'beta', 'positions', 'vreason', 'autopilot'] as const).filter((k) => values[k] !== undefined);
    if (used.length) throw new SteerlabError('BAD_ARGUMENT', `--${used[0]} applies to --policy llm only (got --policy ${policy})`);
    const name = (policy === 'egreedy' ? 'eps-greedy' : policy) as PolicyName;
    if (!(POLICY_NAMES as readonly string[]).includes(name)) throw new SteerlabError('BAD_ARGUMENT', `unknown policy '${policy}'`);
    if (out) writeFileSync(out, '');
    const records = await runBaseline(envId, name, { seed, episodes, horizon, scenario, envOptions });
    if (out) for (const r of records) appendFileSync(out, formatTraceLine(r));
    summaries = records.filter((r): r is SummaryRecord => r.type === 'summary');
  }
  print(JSON.stringify({ runs: summaries.length, metrics: aggregateOf(summaries.map((s) => s.summary)) }));
}

export function metricsOf(records: TraceRecord[]) {
  const runs = splitRuns(records).map((r) => {
    const summary = r.summary ?? (r.steps.length ? summaryRecordFor(r.runId, r.steps[0]!.config, r.steps) : null);
    return { runId: r.runId, steps: r.steps.length, config: r.steps[0]?.config ?? r.summary?.config, metrics: summary?.summary ?? null };
  });
  const complete = runs.filter((r) => r.metrics).map((r) => r.metrics!) as RunSummary[];
  return { runs, aggregate: aggregateOf(complete) };
}

export async function metricsCommand(argv: string[]): Promise<void> {
  const { positionals } = parseFlags(argv, {}, { required: ['trace.jsonl'], rest: true });
  const records: TraceRecord[] = [];
  for (const f of positionals) {
    try {
      records.push(...parseTrace(readFileSync(f, 'utf8')));
    } catch (e) {
      if (e instanceof SteerlabError) throw new SteerlabError(e.code, `${f}: ${e.message}`);
      throw e;
    }
  }
  print(JSON.stringify(metricsOf(records)));
}

export async function csvCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseFlags(argv, { summaries: boolean() }, { required: ['trace.jsonl'] });
  print(toCsv(parseTrace(readFileSync(positionals[0]!, 'utf8')), values.summaries ? 'summaries' : 'steps'));
}

export async function envsCommand(argv: string[] = []): Promise<void> {
  parseFlags(argv, {}, {});
  print(JSON.stringify({ envs: listEnvs(), scenarios: builtinScenarios().map((s) => ({ id: s.id, title: s.title, games: s.games })) }, null, 2));
}
