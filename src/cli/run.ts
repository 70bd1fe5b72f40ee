/** `steerlab run`, `steerlab metrics`, `steerlab envs`: games, agents, baselines and traces. */
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { runEpisode, type Mode, type SteeringControl } from '../agent/agent.js';
import { POLICY_NAMES, runBaseline, type PolicyName } from '../baselines/run.js';
import { SteerlabError } from '../errors.js';
import type { ModelSession } from '../engine/session.js';
import { createEnv, listEnvs } from '../envs/registry.js';
import { builtinScenarios, getScenario, loadScenario, type Scenario } from '../envs/scenario.js';
import { aggregate, type RunSummary } from '../metrics/summary.js';
import { loadModel } from '../node/models.js';
import { formatTraceLine, parseTrace, splitRuns, summaryRecordFor } from '../trace/jsonl.js';
import { toCsv } from '../trace/csv.js';
import type { SummaryRecord, TraceRecord } from '../trace/schema.js';
import { parseVectorFile } from '../steering/vector.js';
import { need, num, parse, print } from './args.js';
import { steeringFlags } from './generate.js';

export function scenarioFrom(arg: string | undefined, envId: string): Scenario {
  if (arg === undefined) {
    const fit = builtinScenarios().find((s) => s.games.includes(envId));
    if (!fit) throw new SteerlabError('BAD_SCENARIO', `no built-in scenario fits env '${envId}'; pass --scenario FILE`);
    return fit;
  }
  if (arg.endsWith('.json')) return loadScenario(readFileSync(arg, 'utf8'));
  return getScenario(arg);
}

export function envOptionsFrom(v: unknown): Record<string, unknown> {
  if (v === undefined) return {};
  try {
    return JSON.parse(String(v)) as Record<string, unknown>;
  } catch (e) {
    throw new SteerlabError('BAD_ARGUMENT', `--env-options must be JSON: ${(e as Error).message}`);
  }
}

export function steeringControlFrom(values: Record<string, unknown>, defaultPositions: 'generated' | 'all' = 'generated'): SteeringControl | null {
  if (values.vector === undefined) return null;
  const file = parseVectorFile(readFileSync(String(values.vector), 'utf8'));
  const beta = num(values.beta, 'beta', 1);
  return {
    id: String(values.vector).split('/').pop()!,
    layer: values.layer === undefined ? file.layer : num(values.layer, 'layer'),
    vector: Float32Array.from(file.vector),
    positions: (values.positions as 'generated' | 'all' | undefined) ?? defaultPositions,
    beta: () => beta,
  };
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
  samples: number;
  temperature: number;
  steering: SteeringControl | null;
  out?: string;
  onEpisode?: (s: SummaryRecord) => void;
}

/** Runs LLM episodes, appending each step to `out` as it happens (a crash keeps what was done). */
export async function runLlmEpisodes(a: LlmRunArgs): Promise<SummaryRecord[]> {
  const summaries: SummaryRecord[] = [];
  for (let e = 0; e < a.episodes; e++) {
    const env = createEnv(a.envId, { ...a.envOptions, ...(a.horizon ? { horizon: a.horizon } : {}) });
    const r = await runEpisode(
      a.session,
      env,
      a.scenario,
      a.seed + e,
      {
        mode: a.mode,
        samples: a.samples,
        temperature: a.temperature,
        horizon: a.horizon,
        steering: a.steering,
        onStep: a.out ? (rec) => appendFileSync(a.out!, formatTraceLine(rec)) : undefined,
      },
      {
        env: a.envId,
        scenario: a.scenario.id,
        policy: `llm-${a.temperature > 0 ? 'sample' : 'greedy'}-T${a.temperature}`,
        mode: a.mode,
        steering: a.steering ? { layer: a.steering.layer, beta: a.steering.beta(0), vectorId: a.steering.id } : null,
      },
    );
    if (r.steps.length && a.out) appendFileSync(a.out, formatTraceLine(r.summary));
    if (r.steps.length) summaries.push(r.summary);
    a.onEpisode?.(r.summary);
  }
  return summaries;
}

/** Flags shared by every command that plays episodes (run, east, sweep). */
export const episodeFlags = {
  model: { type: 'string' },
  env: { type: 'string' },
  'env-options': { type: 'string' },
  scenario: { type: 'string' },
  horizon: { type: 'string' },
  seed: { type: 'string' },
  mode: { type: 'string' },
  samples: { type: 'string' },
  temperature: { type: 'string' },
} as const;

export async function runCommand(argv: string[]): Promise<void> {
  const { values } = parse(argv, {
    ...episodeFlags,
    episodes: { type: 'string' },
    policy: { type: 'string' },
    out: { type: 'string' },
    ...steeringFlags,
  });
  const envId = need(values.env as string | undefined, '--env ENV');
  const envOptions = envOptionsFrom(values['env-options']);
  const episodes = num(values.episodes, 'episodes', 1);
  const horizon = values.horizon === undefined ? undefined : num(values.horizon, 'horizon');
  const seed = num(values.seed, 'seed', 0);
  const policy = (values.policy as string | undefined) ?? 'llm';
  const out = values.out as string | undefined;
  if (out) writeFileSync(out, '');
  const scenario = scenarioFrom(values.scenario as string | undefined, envId);
  let summaries: SummaryRecord[];
  if (policy === 'llm') {
    const mode = ((values.mode as string | undefined) ?? 'exact') as Mode;
    if (mode !== 'exact' && mode !== 'sampled') throw new SteerlabError('BAD_ARGUMENT', '--mode must be exact or sampled');
    const session = await loadModel(need(values.model as string | undefined, '--model M (needed for --policy llm)'));
    try {
      summaries = await runLlmEpisodes({
        session, envId, envOptions, scenario, episodes, horizon, seed, mode,
        samples: num(values.samples, 'samples', 25),
        temperature: num(values.temperature, 'temperature', 1),
        steering: steeringControlFrom(values),
        out,
        onEpisode: (s) => process.stderr.write(`episode ${s.runId}: ${s.steps} steps, entropy ${s.summary.entropy.toFixed(3)}\n`),
      });
    } finally {
      await session.dispose();
    }
  } else {
    const name = (policy === 'egreedy' ? 'eps-greedy' : policy) as PolicyName;
    if (!(POLICY_NAMES as readonly string[]).includes(name)) throw new SteerlabError('BAD_ARGUMENT', `unknown policy '${policy}' (llm, random, greedy, egreedy, ucb, ts, optimal)`);
    const records = runBaseline(envId, name, { seed, episodes, horizon, scenario, envOptions });
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
  const { positionals } = parse(argv, {});
  if (!positionals.length) throw new SteerlabError('BAD_ARGUMENT', 'give one or more trace.jsonl files');
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
  const { values, positionals } = parse(argv, { summaries: { type: 'boolean' } });
  const file = need(positionals[0], 'a trace.jsonl file');
  print(toCsv(parseTrace(readFileSync(file, 'utf8')), values.summaries ? 'summaries' : 'steps'));
}

export async function envsCommand(): Promise<void> {
  print(JSON.stringify({ envs: listEnvs(), scenarios: builtinScenarios().map((s) => ({ id: s.id, title: s.title, games: s.games })) }, null, 2));
}
