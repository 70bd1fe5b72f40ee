/**
 * llama.cpp as the peer: the same GGUF, the same thread count, the same token ids, run beside
 * our engine in the same benchmark (each engine in its own child process, peer-child.ts, so
 * memory peaks never mix), alternating rounds so machine noise hits both alike. Every ratio
 * comes from this one run. Where node-llama-cpp cannot be loaded (no prebuilt binary for this
 * platform), the section says why and reports ours alone.
 */
import { spawnSync } from 'node:child_process';
import { buildSync } from 'esbuild';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ModelSession } from '../engine/session.js';
import type { Turn } from '../envs/prompt.js';
import { buildMessages, stepFeedback } from '../envs/prompt.js';
import { createEnv } from '../envs/registry.js';
import { getScenario, scenarioActions, type Scenario } from '../envs/scenario.js';
import { renderTranscript } from '../envs/transcript.js';
import type { PeerEngineRun, PeerJob } from './peer-child.js';
import { keptCacheRatio, type KeptCacheRatio } from './agent.js';
import { modelFlops } from './flops.js';

export const PEER_THREADS = 2;
export const LONG_PROMPT_TOKENS = 2800;
/**
 * The exact-mode agent step's shape without the agent: the east-buttons episode on SmolLM2 holds
 * ~400 tokens at step 5 and ~2,656 at step 50 and appends ~52 per step. Timed on both engines, it
 * shows how much of the agent's step 50 / step 5 is attention over a longer context itself.
 */
export const APPEND = { at: [400, 2656], tokens: 52, reps: 5 };

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export interface PeerSummary {
  rounds: number;
  loadMs: number;
  residentBytes: number;
  residentOverFile: number;
  afterLoadAnonBytes: number | null;
  afterLoadFileBytes: number | null;
  peakRssBytes: number;
  peakOverBaselineBytes: number;
  shortDecodeTokensPerSecond: number;
  longDecodeTokensPerSecond: number;
  longPrefillMs: number;
  /** long-context decode speed / short-prompt decode speed. */
  longOverShort: number;
  /** ms to append APPEND.tokens tokens at APPEND.at[0] and at APPEND.at[1] tokens of context, and their ratio. */
  append: { shortMs: number; longMs: number; longOverShort: number } | null;
  detail: Record<string, unknown>;
}

export interface PeerBench {
  threads: number;
  fileBytes: number;
  promptTokens: { short: number; long: number };
  newTokens: { short: number; long: number };
  ours: PeerSummary;
  llamaCpp: PeerSummary | null;
  /** Why llama.cpp was not measured (null when it was). */
  llamaCppProblem: string | null;
  /** ours / llama.cpp: > 1 means ours is faster (tok/s) or bigger (memory). */
  ratios: {
    shortDecodeOursOverLlama: number;
    longDecodeOursOverLlama: number;
    peakRssOursOverLlama: number;
    peakOverBaselineOursOverLlama: number;
    residentOursOverLlama: number;
  } | null;
  /** Exact mode, prompt cache kept: step 50 / step 5 latency (ours only; llama.cpp has no agent loop). */
  agent: KeptCacheRatio;
  runs: PeerEngineRun[];
}

/** Whether the model has a chat template (base models such as gemma-3-270m do not). */
export function hasChatTemplate(session: ModelSession): boolean {
  try {
    session.chat([{ role: 'user', content: 'x' }]);
    return true;
  } catch {
    return false;
  }
}

/** The east-buttons scenario, in plain transcript style for a model without a chat template. */
function benchScenario(session: ModelSession): Scenario {
  const s = getScenario('east-buttons');
  return hasChatTemplate(session) ? s : { ...s, prompt: { ...s.prompt, style: 'transcript', agent: s.prompt.agent || 'Agent:\n' } };
}

/** The short prompt: a one-line request, through the chat template where there is one. */
/** The short prompt's request, in Node and in the browser bench. */
export const SHORT_ASK = 'Write a short story about a robot who learns to paint.';

export function shortPromptIds(session: ModelSession): number[] {
  const ask = SHORT_ASK;
  return hasChatTemplate(session) ? session.encode(session.chat([{ role: 'user', content: ask }])) : session.encode(`${ask}\n`, true);
}

/** An east-buttons dialogue transcript long enough, cut to exactly `n` tokens: agent-shaped text. */
export function longPromptIds(session: ModelSession, n = LONG_PROMPT_TOKENS): number[] {
  const scenario = benchScenario(session);
  const chat = scenario.prompt.style !== 'transcript';
  const env = createEnv('east-gauss2', { preset: 'equal', horizon: 1000 });
  const actions = scenarioActions(scenario, env.actions());
  const history = { initial: env.reset(1), turns: [] as Turn[] };
  for (let t = 0; ; t++) {
    const ids = chat ? session.encode(session.chat(buildMessages(scenario, env, history), true)) : session.encode(renderTranscript(scenario, env, history), true);
    if (ids.length >= n) return ids.slice(0, n);
    const a = t % 3 === 0 ? 1 : 0;
    const r = env.step(a);
    history.turns.push({ action: a, valid: true, completion: `Thought: Button ${a + 1} has paid well so far.\n${scenario.answer.prefix}${a + 1}.`, reward: r.reward, observation: r.observation, envFeedback: stepFeedback(scenario, actions, a, r) });
  }
}

const appendLog = (r: PeerEngineRun) => (r.append ? `, append ${r.append.tokens} at ${r.append.at.map((n, i) => `${n}: ${r.append!.ms[i]!.toFixed(0)} ms`).join(', ')}` : '');

function appendSummary(runs: PeerEngineRun[]): PeerSummary['append'] {
  const with_ = runs.filter((r) => r.append);
  if (!with_.length) return null;
  const at = (n: number) => median(with_.map((r) => r.append!.ms[r.append!.at.indexOf(n)]!));
  const shortMs = at(Math.min(...APPEND.at)), longMs = at(Math.max(...APPEND.at));
  return { shortMs, longMs, longOverShort: longMs / shortMs };
}

function summarise(runs: PeerEngineRun[]): PeerSummary {
  const first = runs[0]!;
  const resident = median(runs.map((r) => r.afterLoad.rssBytes - r.beforeLoad.rssBytes));
  const shortTps = median(runs.flatMap((r) => r.short.allTokensPerSecond));
  const longTps = median(runs.map((r) => r.long.decodeTokensPerSecond));
  return {
    rounds: runs.length,
    loadMs: median(runs.map((r) => r.loadMs)),
    residentBytes: resident,
    residentOverFile: resident / first.fileBytes,
    afterLoadAnonBytes: first.afterLoad.anonBytes === null ? null : median(runs.map((r) => r.afterLoad.anonBytes! - (r.beforeLoad.anonBytes ?? 0))),
    afterLoadFileBytes: first.afterLoad.fileBytes === null ? null : median(runs.map((r) => r.afterLoad.fileBytes! - (r.beforeLoad.fileBytes ?? 0))),
    // The first run's peak: a fresh process that generated from the long prompt and nothing bigger.
    peakRssBytes: median(runs.map((r) => r.peakRssBytes)),
    peakOverBaselineBytes: median(runs.map((r) => r.peakOverBaselineBytes)),
    shortDecodeTokensPerSecond: shortTps,
    longDecodeTokensPerSecond: longTps,
    longPrefillMs: median(runs.map((r) => r.long.prefillMs)),
    longOverShort: longTps / shortTps,
    append: appendSummary(runs),
    detail: first.detail,
  };
}

/**
 * The child as plain JavaScript, bundled once per run: under tsx's loader, importing
 * @huggingface/transformers alone adds ~170 MiB of RSS (plain Node: ~20 MiB), which would be
 * charged to the engine. A library user runs compiled JS, so the benchmark does too.
 */
let childScript: string | null = null;
function bundledChild(): string {
  if (childScript) return childScript;
  const out = join(import.meta.dirname, '..', '..', 'node_modules', '.cache', 'steerlab-bench', 'peer-child.mjs');
  buildSync({
    entryPoints: [join(import.meta.dirname, 'peer-child.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    outfile: out,
    // Native and large packages load from node_modules as they would in an application.
    external: ['onnxruntime-node', 'onnxruntime-web', '@huggingface/transformers', 'node-llama-cpp'],
    logLevel: 'warning',
  });
  return (childScript = out);
}

export function runChild<T = PeerEngineRun>(engine: 'ours' | 'llama', modelPath: string, jobPath: string): T {
  const r = spawnSync(process.execPath, ['--expose-gc', bundledChild(), engine, modelPath, jobPath], { encoding: 'utf8', timeout: 600_000, maxBuffer: 64 << 20 });
  const line = (r.stdout ?? '').trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !line.startsWith('{')) {
    const why = (r.error?.message ?? r.stderr ?? '').trim().split('\n').filter((l) => l.trim()).slice(-3).join(' / ');
    throw new Error(`${engine} child exited with ${r.status ?? r.signal}: ${why || 'no output'}`);
  }
  return JSON.parse(line) as T;
}

/** The agent section's kept-cache ratio, on this model's scenario (a base model gets the transcript style). */
async function agentRatio(session: ModelSession, modelPath: string, log: (s: string) => void): Promise<PeerBench['agent']> {
  return keptCacheRatio(session, benchScenario(session), log, modelFlops(modelPath));
}

export async function benchPeer(session: ModelSession, modelPath: string, log: (s: string) => void, o: { rounds?: number; reps?: number; agent?: PeerBench['agent'] } = {}): Promise<PeerBench> {
  const rounds = o.rounds ?? 2;
  const job: PeerJob = {
    threads: PEER_THREADS,
    shortIds: shortPromptIds(session),
    longIds: longPromptIds(session),
    shortNewTokens: 64,
    longNewTokens: 32,
    reps: o.reps ?? 3,
    contextSize: 4096,
    append: APPEND,
  };
  const dir = mkdtempSync(join(tmpdir(), 'steerlab-peer-'));
  const jobPath = join(dir, 'job.json');
  writeFileSync(jobPath, JSON.stringify(job));
  const ours: PeerEngineRun[] = [];
  const peer: PeerEngineRun[] = [];
  let problem: string | null = null;
  try {
    for (let i = 0; i < rounds; i++) {
      log(`  peer round ${i + 1}/${rounds}: ours (child process, ${PEER_THREADS} threads)`);
      ours.push(runChild('ours', modelPath, jobPath));
      const a = ours.at(-1)!;
      log(`    ours: short ${a.short.decodeTokensPerSecond.toFixed(1)} tok/s, at ${job.longIds.length} tokens ${a.long.decodeTokensPerSecond.toFixed(1)} tok/s, peak ${(a.peakRssBytes / 2 ** 20).toFixed(0)} MiB${appendLog(a)}`);
      if (problem === null) {
        log(`  peer round ${i + 1}/${rounds}: llama.cpp (child process, ${PEER_THREADS} threads)`);
        try {
          peer.push(runChild('llama', modelPath, jobPath));
          const b = peer.at(-1)!;
          log(`    llama.cpp: short ${b.short.decodeTokensPerSecond.toFixed(1)} tok/s, at ${job.longIds.length} tokens ${b.long.decodeTokensPerSecond.toFixed(1)} tok/s, peak ${(b.peakRssBytes / 2 ** 20).toFixed(0)} MiB${appendLog(b)}`);
        } catch (e) {
          problem = `llama.cpp could not be run, so only ours is reported: ${(e as Error).message}`;
          log(`    ${problem}`);
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  log('  peer: agent step 50 / step 5 (exact mode, ours)');
  const agent = o.agent ?? (await agentRatio(session, modelPath, log));
  const a = summarise(ours);
  const b = peer.length ? summarise(peer) : null;
  return {
    threads: PEER_THREADS,
    fileBytes: ours[0]!.fileBytes,
    promptTokens: { short: job.shortIds.length, long: job.longIds.length },
    newTokens: { short: job.shortNewTokens, long: job.longNewTokens },
    ours: a,
    llamaCpp: b,
    llamaCppProblem: b ? null : problem ?? 'not run',
    ratios: b
      ? {
          shortDecodeOursOverLlama: a.shortDecodeTokensPerSecond / b.shortDecodeTokensPerSecond,
          longDecodeOursOverLlama: a.longDecodeTokensPerSecond / b.longDecodeTokensPerSecond,
          peakRssOursOverLlama: a.peakRssBytes / b.peakRssBytes,
          peakOverBaselineOursOverLlama: a.peakOverBaselineBytes / b.peakOverBaselineBytes,
          residentOursOverLlama: a.residentBytes / b.residentBytes,
        }
      : null,
    agent,
    runs: [...ours, ...peer],
  };
}
