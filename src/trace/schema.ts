/**
 * The JSONL trace format: one 'step' line per agent decision and one 'summary' line per run.
 * Objects are strict, so a misspelt field is an error rather than silently dropped; free-form
 * additions go under `extra`. Every line repeats the run config so a line is readable alone.
 */
import { z } from 'zod';
import { METRIC_KEYS, OPTIONAL_METRICS, type MetricKey } from '../metrics/summary';

const finite = z.number(); // zod 4 numbers reject NaN and ±Infinity
const nonNegative = z.number().min(0);
const count = z.number().int().min(0);

export const runSteeringSchema = z.strictObject({
  /** Decoder layer whose residual stream is steered (0-based). */
  layer: count,
  /** Strength: beta * u is added at each generated position. */
  beta: finite,
  /** Which vector was used (its id in the vector store or file name). */
  vectorId: z.string().min(1),
  /** Where it is added: the forwards of the prompt, of the model's own turn, or both. */
  positions: z.enum(['all', 'prompt', 'generated']).optional(),
  /** Every layer of a multi-layer vector (layer is the first). */
  layers: z.array(count).optional(),
});

export const runConfigSchema = z.strictObject({
  /** null for model-free baselines. */
  modelId: z.string().min(1).nullable(),
  /** Hash of the model weights, so traces from different files are never mixed up. */
  modelHash: z.string().min(1).nullable(),
  env: z.string().min(1),
  /** The game's resolved parameters (Env.params(): defaults filled in, per-seed draws such as shuffled means). */
  envOptions: z.record(z.string(), z.unknown()).optional(),
  scenario: z.string().min(1).nullable(),
  seed: z.union([finite, z.string()]),
  /** The model's decoding policy ("greedy", "sample") or the baseline's name ("ucb"). */
  policy: z.string().min(1),
  /** exact: action distribution from log-probs after the answer prefix; sampled: Monte-Carlo over completions. */
  mode: z.enum(['exact', 'sampled', 'thought', 'baseline']),
  steering: runSteeringSchema.nullable(),
  /** The configured horizon (the metrics' T); absent in older traces, where T is the run's length. */
  horizon: count.optional(),
  /** V-Reason settings in force (absent or null: off). */
  vreason: z.object({
    every: count, steps: count, lr: finite, mode: z.enum(['switch', 'down', 'up']), level: z.enum(['token', 'action']),
    ema: finite, span: z.enum(['step', 'prompt']), mass: finite,
  }).nullable().optional(),
});

export const stepRecordSchema = z
  .strictObject({
    type: z.literal('step'),
    runId: z.string().min(1),
    /** 0-based step index within the run. */
    step: count,
    config: runConfigSchema,
    /** Prompt length in tokens; null when no model was involved. */
    promptTokens: count.nullable(),
    /** The completion acted on (sampled mode), null in exact and baseline modes. */
    completion: z.string().nullable(),
    /** All sampled completions behind actionProbs (sampled mode). */
    completions: z.array(z.string()).optional(),
    /** Action distribution at this step, one entry per action (probabilities, or frequencies of parsed samples); null when there is none (no sample parsed). */
    actionProbs: z.array(nonNegative).min(1).nullable(),
    /** Entropy of actionProbs in nats; null with no distribution. */
    entropy: nonNegative.nullable(),
    /** Action played; null when the answer did not parse and the episode ended. */
    action: count.nullable(),
    actionLabel: z.string().nullable(),
    /** False when the answer could not be parsed or the format broke (then action is a random arm or null). */
    valid: z.boolean(),
    /** Exact mode: probability of any valid answer before renormalising (at the temperature in force). */
    validMass: z.number().min(0).max(1 + 1e-9).optional(),
    /** Valid mass fell below the run's minValidMass: the answer format broke; not a choice. */
    formatBroken: z.literal(true).optional(),
    reward: finite,
    /** Expected regret of this step's action (0 if optimal or nothing played). */
    regret: finite,
    cumRegret: finite,
    /** True on the episode's last step. */
    done: z.boolean(),
    /** Steering actually in force at this step (strength may change mid-episode), or null. */
    steering: z.strictObject({ layer: count, beta: finite, layers: z.array(count).optional() }).nullable(),
    /** Wall-clock milliseconds by phase, e.g. { prompt: 12.5, decode: 80 }. */
    timings: z.record(z.string(), nonNegative),
    extra: z.record(z.string(), z.unknown()).optional(),
  })
  .superRefine((r, ctx) => {
    if (r.action !== null && r.actionProbs && r.action >= r.actionProbs.length) {
      ctx.addIssue({ code: 'custom', path: ['action'], message: `action ${r.action} is outside actionProbs (${r.actionProbs.length} actions)` });
    }
    if ((r.actionProbs === null) !== (r.entropy === null)) {
      ctx.addIssue({ code: 'custom', path: ['entropy'], message: 'must be null exactly when actionProbs is null' });
    }
    if ((r.action === null) !== (r.actionLabel === null)) {
      ctx.addIssue({ code: 'custom', path: ['actionLabel'], message: 'must be null exactly when action is null' });
    }
  });

const summaryValues = z.strictObject({
  entropy: finite.nullable(),
  /** Absent in traces written before valid mass was measured. */
  validMass: finite.nullable().optional(),
  regret: finite,
  suffFailFreq: finite,
  kMinFrac: finite,
  greedyFrac: finite,
  bestArmFrac: finite,
  coverage: finite,
  invalidRate: finite,
  invalidAnswerRate: finite.optional(),
  meanReward: finite,
});
// The summary line holds exactly the metric keys, the optional ones nullable.
const _keys: Record<MetricKey, unknown> = summaryValues.shape;
void _keys;
void METRIC_KEYS;
void OPTIONAL_METRICS;

export const summaryRecordSchema = z.strictObject({
  type: z.literal('summary'),
  runId: z.string().min(1),
  config: runConfigSchema,
  /** Number of step lines in the run. */
  steps: z.number().int().min(1),
  numActions: z.number().int().min(1),
  summary: summaryValues,
  extra: z.record(z.string(), z.unknown()).optional(),
});

export const traceRecordSchema = z.discriminatedUnion('type', [stepRecordSchema, summaryRecordSchema]);

/** The steering a run started with (the run config's `steering`). */
export type RunSteering = z.output<typeof runSteeringSchema>;
export type RunConfig = z.output<typeof runConfigSchema>;
export type StepRecord = z.output<typeof stepRecordSchema>;
export type SummaryRecord = z.output<typeof summaryRecordSchema>;
export type TraceRecord = z.output<typeof traceRecordSchema>;
