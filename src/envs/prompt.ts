/**
 * Pure prompt building: scenario + game + history -> chat messages. Two shapes:
 *  - 'dialogue' (EAST): P_{t+1} = (P_t, C_t, F_t) as turns: user intro + first observation,
 *    then assistant completion / user feedback + next observation, ...
 *  - 'summary' / 'raw' (Krishnamurthy, BanditBench): one user message holding the intro, the history
 *    (per-action counts and mean rewards, or one line per past step) and the question.
 * The engine appends scenario.answer.prefix to the assistant turn itself when scoring exactly.
 */
import { SteerlabError } from '../errors.js';
import { checkFits, missingEventText, scenarioActions, type HistoryStyle, type Scenario, type ScenarioAction } from './scenario';
import { formatNumber, renderTemplate, type TemplateVars } from './template';
import type { Env, StepResult } from './types';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** One played step as the agent experienced it. */
export interface Turn {
  /** The action played; null only when nothing parsed and the episode ended there. */
  action: number | null;
  /** False when the completion did not parse (the action, if any, was then drawn at random). */
  valid: boolean;
  /** The model's text for this step (shown as the assistant turn in dialogue style). */
  completion: string;
  reward: number;
  /** Observation after the step (Env.step's observation). */
  observation: string;
  /** The game's feedback line for this step, as stepFeedback words it. */
  envFeedback: string;
}

export interface History {
  /** The observation returned by Env.reset. */
  initial: string;
  turns: Turn[];
}

function playedAction(turn: Turn, index: number, actions: readonly ScenarioAction[]): ScenarioAction {
  if (turn.action === null) {
    throw new SteerlabError('BAD_ARGUMENT', `turn ${index + 1} has no action (the episode ended there), so it has no feedback`);
  }
  const a = actions[turn.action];
  if (!a) throw new SteerlabError('BAD_ARGUMENT', `turn ${index + 1}: action ${turn.action} is not one of the ${actions.length} actions`);
  return a;
}

/**
 * The game's account of one step in the scenario's words: a grid step's events through the
 * scenario's `events` texts ({label}/{n}: the action taken, {moved}: the direction actually
 * moved), joined with nothing in between; a bandit's own feedback line as it is. This is what
 * {envFeedback} stands for in the feedback templates.
 */
export function stepFeedback(
  scenario: Scenario,
  actions: readonly ScenarioAction[],
  action: number,
  step: Pick<StepResult, 'feedback' | 'events' | 'moved'>,
): string {
  if (!step.events) return step.feedback ?? '';
  const taken = actions[action];
  const moved = actions[step.moved ?? action];
  if (!taken || !moved) {
    throw new SteerlabError('BAD_ARGUMENT', `action ${step.moved ?? action} is not one of the ${actions.length} actions`);
  }
  const vars: TemplateVars = { label: taken.label, n: taken.id + 1, moved: moved.label };
  return step.events
    .map((event) => {
      const text = scenario.events?.[event];
      if (text === undefined) throw missingEventText(scenario, event);
      return renderTemplate(text, vars);
    })
    .join('');
}

/** The feedback text for turn `index` (0-based), using invalidFeedback for a random replacement. */
export function renderFeedback(scenario: Scenario, actions: readonly ScenarioAction[], turn: Turn, index: number): string {
  const a = playedAction(turn, index, actions);
  const vars: TemplateVars = {
    label: a.label,
    n: a.id + 1,
    reward: formatNumber(turn.reward, scenario.rewardDecimals),
    step: index + 1,
    observation: turn.observation,
    envFeedback: turn.envFeedback,
  };
  return renderTemplate(turn.valid ? scenario.feedback : scenario.invalidFeedback, vars);
}

/**
 * The history block of the single-message styles: the header, then one line per action
 * ("blue button: pressed 3 times with average reward 0.67") or, for 'raw', one line per step.
 * Random replacements for unparseable answers count: the agent saw their rewards.
 */
export function renderSummary(
  scenario: Scenario,
  actions: readonly ScenarioAction[],
  turns: readonly Turn[],
  style: 'summary' | 'raw' = 'summary',
): string {
  const h = scenario.history;
  const header = renderTemplate(h.header, { t: turns.length, K: actions.length });
  let lines: string[];
  if (style === 'raw') {
    lines = turns.map((turn, i) => {
      const a = playedAction(turn, i, actions);
      return renderTemplate(h.rawLine, {
        label: a.label,
        n: a.id + 1,
        reward: formatNumber(turn.reward, scenario.rewardDecimals),
        step: i + 1,
      });
    });
  } else {
    const count = actions.map(() => 0);
    const total = actions.map(() => 0);
    turns.forEach((turn, i) => {
      const a = playedAction(turn, i, actions);
      count[a.id]!++;
      total[a.id]! += turn.reward;
    });
    lines = actions.map((a) =>
      count[a.id] === 0
        ? renderTemplate(h.summaryUnplayed, { label: a.label, n: a.id + 1 })
        : renderTemplate(h.summaryLine, {
            label: a.label,
            n: a.id + 1,
            count: count[a.id]!,
            mean: formatNumber(total[a.id]! / count[a.id]!, h.meanDecimals),
            total: formatNumber(total[a.id]!, scenario.rewardDecimals),
          }),
    );
  }
  return [header, ...lines].filter((l) => l !== '').join('\n');
}

export function joinParts(parts: string[]): string {
  return parts.filter((p) => p.trim() !== '').join('\n\n');
}

/**
 * Chat messages for the next decision, given everything played so far. `style` overrides the
 * scenario's history style. Throws if the scenario does not fit the game or the episode ended on
 * an unparseable answer (there is no next prompt then).
 */
export function buildMessages(scenario: Scenario, env: Env, history: History, style: HistoryStyle = scenario.history.style): ChatMessage[] {
  checkFits(scenario, env);
  const actions = scenarioActions(scenario, env.actions());
  const base: TemplateVars = { K: actions.length, horizon: env.horizon, actions: actions.map((a) => a.label).join(', ') };
  const turnPrompt = (observation: string, step: number) => renderTemplate(scenario.turnPrompt, { ...base, observation, step });
  const messages: ChatMessage[] = [];
  const system = renderTemplate(scenario.system, base);
  if (system.trim() !== '') messages.push({ role: 'system', content: system });
  const intro = renderTemplate(scenario.intro, base);
  const turns = history.turns;

  if (style === 'dialogue') {
    messages.push({ role: 'user', content: joinParts([intro, turnPrompt(history.initial, 1)]) });
    turns.forEach((turn, i) => {
      messages.push({ role: 'assistant', content: turn.completion });
      messages.push({ role: 'user', content: joinParts([renderFeedback(scenario, actions, turn, i), turnPrompt(turn.observation, i + 2)]) });
    });
    return messages;
  }
  const current = turns.length > 0 ? turns[turns.length - 1]!.observation : history.initial;
  const block = turns.length > 0 ? renderSummary(scenario, actions, turns, style) : '';
  messages.push({ role: 'user', content: joinParts([intro, block, turnPrompt(current, turns.length + 1)]) });
  return messages;
}
