/**
 * The 'transcript' prompt style: one continuing text, no chat template. Small models follow a
 * worked example in plain text far better than a chat instruction, so the scenario's `examples`
 * come right after the intro, and each round reads
 *
 *     {turnPrompt}\n{agent}{the agent's words}\n{feedback}\n\n
 *
 * ending, for the next decision, in "{turnPrompt}\n{agent}" where the model continues.
 */
import { checkFits, scenarioActions, type HistoryStyle, type Scenario } from './scenario';
import { joinParts, renderFeedback, renderSummary, type History } from './prompt';
import { renderTemplate, type TemplateVars } from './template';
import type { Env } from './types';

export function renderTranscript(scenario: Scenario, env: Env, history: History, style: HistoryStyle = scenario.history.style): string {
  checkFits(scenario, env);
  const actions = scenarioActions(scenario, env.actions());
  const base: TemplateVars = { K: actions.length, horizon: env.horizon, actions: actions.map((a) => a.label).join(', ') };
  const turnPrompt = (observation: string, step: number) => renderTemplate(scenario.turnPrompt, { ...base, observation, step });
  const { agent, examples } = scenario.prompt;
  const head = joinParts([renderTemplate(scenario.system, base), renderTemplate(scenario.intro, base), examples]);
  const turns = history.turns;
  if (style === 'dialogue') {
    const rounds = turns.map((turn, i) => `${turnPrompt(i === 0 ? history.initial : turns[i - 1]!.observation, i + 1)}\n${agent}${turn.completion}\n${renderFeedback(scenario, actions, turn, i)}\n\n`);
    const current = turns.length ? turns[turns.length - 1]!.observation : history.initial;
    return `${head}\n\n${rounds.join('')}${turnPrompt(current, turns.length + 1)}\n${agent}`;
  }
  const current = turns.length > 0 ? turns[turns.length - 1]!.observation : history.initial;
  const block = turns.length > 0 ? renderSummary(scenario, actions, turns, style) : '';
  return `${joinParts([head, block, turnPrompt(current, turns.length + 1)])}\n${agent}`;
}
