/**
 * Scenarios: the wording of a game as data (src/scenarios/*.json), validated by a zod schema.
 * A scenario names the games it fits, how actions are called, the answer format (the fixed prefix
 * after which an action's text is scored in exact mode, and the parser for free text), the
 * feedback and history templates, the grid games' event texts, and what to do when an answer
 * cannot be parsed.
 */
import { z } from 'zod';
import { SteerlabError } from '../errors.js';
import { firstIssue } from './issue';
import { placeholders, renderTemplate } from './template';
import { STEP_EVENTS, type ActionSpec, type Env, type StepEvent } from './types';
import eastButtons from '../scenarios/east-buttons.json';
import eastButtonsTranscript from '../scenarios/east-buttons-transcript.json';
import eastSlotMachine from '../scenarios/east-slot-machine.json';
import krishnamurthyButtons from '../scenarios/krishnamurthy-buttons.json';
import krishnamurthyAds from '../scenarios/krishnamurthy-ads.json';
import banditbenchVideos from '../scenarios/banditbench-videos.json';
import banditbenchClothes from '../scenarios/banditbench-clothes.json';
import frozenlakeText from '../scenarios/frozenlake-text.json';
import cliffwalkingText from '../scenarios/cliffwalking-text.json';

/**
 * Placeholders each template field may use. {n} is the 1-based action number; in
 * actions.template {label} is the game's own action name, elsewhere the scenario's label.
 */
export const TEMPLATE_FIELDS = {
  system: ['K', 'horizon', 'actions'],
  intro: ['K', 'horizon', 'actions'],
  turnPrompt: ['K', 'horizon', 'actions', 'observation', 'step'],
  feedback: ['label', 'n', 'reward', 'step', 'observation', 'envFeedback'],
  invalidFeedback: ['label', 'n', 'reward', 'step', 'observation', 'envFeedback'],
  'actions.template': ['n', 'label'],
  'answer.text': ['n', 'label'],
  'history.header': ['t', 'K'],
  'history.summaryLine': ['label', 'n', 'count', 'mean', 'total'],
  'history.summaryUnplayed': ['label', 'n'],
  'history.rawLine': ['label', 'n', 'reward', 'step'],
  /** Every events.* text: {label}/{n} the action taken, {moved} the direction actually moved. */
  events: ['label', 'n', 'moved'],
} as const satisfies Record<string, readonly string[]>;

/** Does the pattern compile, and how many capture groups does it have? */
function captureGroups(pattern: string, flags: string): number | string {
  try {
    return new RegExp(`${pattern}|`, flags).exec('')!.length - 1;
  } catch (e) {
    return (e as Error).message;
  }
}

const regexParser = z
  .strictObject({
    kind: z.literal('regex'),
    /** Capture group 1 holds the answer; it is matched against the actions' answer text, then label. */
    pattern: z.string().min(1),
    flags: z
      .string()
      .regex(/^[imsu]*$/, 'only the flags i, m, s, u are allowed')
      .default('i'),
    /** Which match counts when the text has several (models often restate the format first). */
    occurrence: z.enum(['first', 'last']).default('last'),
  })
  .superRefine((p, ctx) => {
    const groups = captureGroups(p.pattern, p.flags);
    if (typeof groups === 'string') ctx.addIssue({ code: 'custom', path: ['pattern'], message: `not a valid regex (${groups})` });
    else if (groups < 1) ctx.addIssue({ code: 'custom', path: ['pattern'], message: 'needs a capture group around the answer' });
  });

const labelParser = z.strictObject({
  kind: z.literal('label'),
  /** Only the text after the last occurrence of this marker is searched (all text if absent). */
  marker: z.string().min(1).optional(),
});

const text = z.string().min(1);

/** One optional text per grid event; an empty text says nothing for that event. */
const eventTexts = z.strictObject(
  Object.fromEntries(STEP_EVENTS.map((e) => [e, z.string().optional()])) as Record<StepEvent, z.ZodOptional<z.ZodString>>,
);

export const scenarioSchema = z
  .strictObject({
    id: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'use lower-case letters, digits and dashes'),
    title: text,
    /** Where the wording comes from, and whether it is quoted or paraphrased. */
    source: text,
    /** Env ids this wording fits. */
    games: z.array(text).min(1),
    system: z.string(),
    intro: text,
    /** Appended to the intro and after every feedback: usually the observation and the question. */
    turnPrompt: z.string(),
    actions: z.union([
      z.strictObject({ template: text }),
      z.strictObject({
        labels: z
          .array(text)
          .min(2)
          .refine((xs) => new Set(xs.map((x) => x.toLowerCase())).size === xs.length, 'labels must be unique'),
      }),
    ]),
    answer: z.strictObject({
      /** Fixed text after which an action's answer text is scored, e.g. "Action: I choose Button ". */
      prefix: text,
      /** The scored continuation for an action, e.g. "{n}" or "{label}". */
      text: text,
      /** Text that closes the answer ("." or "</Answer>"): prefix + text + suffix is a complete, parseable answer. */
      suffix: z.string().default(''),
    }),
    parser: z.discriminatedUnion('kind', [regexParser, labelParser]),
    feedback: text,
    /** Feedback when the answer did not parse and a random action was played (onInvalid 'random-arm'). */
    invalidFeedback: text,
    /**
     * Grid games: the game's feedback in words, one text per event a step reports; {envFeedback}
     * is those texts joined with nothing in between (so each carries its own leading space).
     */
    events: eventTexts.optional(),
    /** Decimals of rewards shown to the agent; traces keep the exact value. */
    rewardDecimals: z.number().int().min(0).max(6),
    history: z.strictObject({
      style: z.enum(['dialogue', 'summary', 'raw']),
      header: z.string().default('So far you have played {t} times:'),
      summaryLine: text.default('{label}: chosen {count} times with average reward {mean}'),
      summaryUnplayed: text.default('{label}: not chosen yet'),
      rawLine: text.default('{label}, reward {reward}'),
      meanDecimals: z.number().int().min(0).max(6).default(2),
    }),
    /** EAST ends the episode on an unparseable answer; BanditBench plays a random arm instead. */
    onInvalid: z.enum(['end-episode', 'random-arm']),
    /**
     * How the prompt is laid out: 'chat' through the model's chat template, or 'transcript': one
     * continuing text with no template (system, intro, the worked `examples`, then each round's
     * question, the agent's words after `agent`, and the feedback), which small models follow better.
     */
    prompt: z
      .strictObject({
        style: z.enum(['chat', 'transcript']).default('chat'),
        /** Worked turns shown before the game, as written. */
        examples: z.string().default(''),
        /** Text before the agent's words in each round of a transcript (e.g. "Agent: "). */
        agent: z.string().default(''),
      })
      .default({ style: 'chat', examples: '', agent: '' }),
    /**
     * Thought mode: the model's thought starts after `prefix` and ends at the first of `stop` (or the
     * token limit); then answer.prefix follows and the actions are scored exactly.
     */
    thought: z
      .strictObject({
        prefix: z.string().default('Thought:'),
        stop: z.array(text).min(1).default(['Action:']),
      })
      .default({ prefix: 'Thought:', stop: ['Action:'] }),
  })
  .superRefine((s, ctx) => {
    const fields: Array<[keyof typeof TEMPLATE_FIELDS, string]> = [
      ['system', s.system],
      ['intro', s.intro],
      ['turnPrompt', s.turnPrompt],
      ['feedback', s.feedback],
      ['invalidFeedback', s.invalidFeedback],
      ['answer.text', s.answer.text],
      ['history.header', s.history.header],
      ['history.summaryLine', s.history.summaryLine],
      ['history.summaryUnplayed', s.history.summaryUnplayed],
      ['history.rawLine', s.history.rawLine],
    ];
    if ('template' in s.actions) fields.push(['actions.template', s.actions.template]);
    const checks: Array<[path: string[], allowed: readonly string[], value: string]> = fields.map(([field, value]) => [
      field.split('.'),
      TEMPLATE_FIELDS[field],
      value,
    ]);
    for (const [event, value] of Object.entries(s.events ?? {})) {
      if (value !== undefined) checks.push([['events', event], TEMPLATE_FIELDS.events, value]);
    }
    for (const [path, allowed, value] of checks) {
      const unknown = placeholders(value).find((p) => !allowed.includes(p));
      if (unknown) {
        ctx.addIssue({
          code: 'custom',
          path,
          message: `unknown placeholder {${unknown}}; allowed: ${allowed.map((a) => `{${a}}`).join(' ')}`,
        });
      }
    }
  });

export type Scenario = z.output<typeof scenarioSchema>;
export type HistoryStyle = Scenario['history']['style'];

/** An action as this scenario shows it: its label, and the answer text scored after the prefix. */
export interface ScenarioAction extends ActionSpec {
  readonly answer: string;
}

/** Validates a scenario given as JSON text or an already-parsed object. */
export function loadScenario(input: string | unknown): Scenario {
  let data: unknown = input;
  if (typeof input === 'string') {
    try {
      data = JSON.parse(input);
    } catch (e) {
      throw new SteerlabError('BAD_SCENARIO', `scenario is not valid JSON: ${(e as Error).message}`);
    }
  }
  const parsed = scenarioSchema.safeParse(data);
  if (!parsed.success) {
    const id = typeof data === 'object' && data && 'id' in data ? ` '${String((data as { id: unknown }).id)}'` : '';
    throw new SteerlabError('BAD_SCENARIO', `scenario${id}: ${firstIssue(parsed.error)}`);
  }
  return parsed.data;
}

let builtins: Scenario[] | null = null;

/** The scenarios shipped in src/scenarios, validated once. */
export function builtinScenarios(): Scenario[] {
  builtins ??= [
    eastButtons,
    eastButtonsTranscript,
    eastSlotMachine,
    krishnamurthyButtons,
    krishnamurthyAds,
    banditbenchVideos,
    banditbenchClothes,
    frozenlakeText,
    cliffwalkingText,
  ].map((s) => loadScenario(s));
  return builtins.map((s) => structuredClone(s));
}

export function getScenario(id: string): Scenario {
  const found = builtinScenarios().find((s) => s.id === id);
  if (!found) {
    const known = builtinScenarios().map((s) => s.id);
    throw new SteerlabError('BAD_SCENARIO', `unknown scenario '${id}'; built in: ${known.join(', ')}`);
  }
  return found;
}

/** Throws unless the scenario lists this game and has a text for every event the game may report. */
export function checkFits(scenario: Scenario, env: Env): void {
  if (!scenario.games.includes(env.id)) {
    throw new SteerlabError('BAD_SCENARIO', `scenario '${scenario.id}' does not fit env '${env.id}' (it fits: ${scenario.games.join(', ')})`);
  }
  const missing = (env.stepEvents ?? []).find((e) => scenario.events?.[e] === undefined);
  if (missing) throw missingEventText(scenario, missing, env.id);
}

/** The error for a grid event the scenario has no text for (one line, naming the missing field). */
export function missingEventText(scenario: Scenario, event: StepEvent, envId?: string): SteerlabError {
  const where = envId === undefined ? `scenario '${scenario.id}'` : `scenario '${scenario.id}' does not fit env '${envId}'`;
  return new SteerlabError('BAD_SCENARIO', `${where}: field 'events.${event}' is missing (a text for the game's '${event}' event)`);
}

/**
 * The env's actions as the scenario names them. A label list longer than the env's action count
 * is cut to the first K (one colour list serves K = 4 and K = 5); a shorter one is an error.
 */
export function scenarioActions(scenario: Scenario, envActions: readonly ActionSpec[]): ScenarioAction[] {
  const { actions } = scenario;
  if ('labels' in actions && actions.labels.length < envActions.length) {
    throw new SteerlabError(
      'BAD_SCENARIO',
      `scenario '${scenario.id}': field 'actions.labels' has ${actions.labels.length} labels but the game has ${envActions.length} actions`,
    );
  }
  return envActions.map((a) => {
    const vars = { n: a.id + 1, label: a.label };
    const label = 'labels' in actions ? actions.labels[a.id]! : renderTemplate(actions.template, vars);
    return { id: a.id, label, answer: renderTemplate(scenario.answer.text, { n: a.id + 1, label }) };
  });
}

/** The complete answer for an action (prefix + answer text + suffix): what exact mode "said". */
export function answerCompletion(scenario: Scenario, action: ScenarioAction): string {
  return `${scenario.answer.prefix}${action.answer}${scenario.answer.suffix}`;
}
