/**
 * The games and scenario wordings the page offers, read from src/envs: pure data for the Agent
 * panel's pickers and its action labels. Nothing here plays a game; episodes run in the worker.
 */
import { createEnv, EAST_PRESETS, listEnvs } from '../envs/registry.js';
import { SteerlabError } from '../errors.js';
import { builtinScenarios, checkFits, loadScenario, scenarioActions, type Scenario } from '../envs/scenario.js';

export type EastPreset = keyof typeof EAST_PRESETS;
export const EAST_PRESET_NAMES = Object.keys(EAST_PRESETS) as EastPreset[];

export interface GameChoice {
  id: string;
  description: string;
  /** The game's default horizon. */
  horizon: number;
  /** Built-in scenarios that list this game, as {id, title}. */
  scenarios: { id: string; title: string }[];
}

/** Every game that has at least one built-in scenario, in registry order. */
export function gameChoices(): GameChoice[] {
  const scenarios = builtinScenarios();
  return listEnvs()
    .map((e) => ({
      id: e.id,
      description: e.description,
      horizon: Number(e.defaults.horizon),
      scenarios: scenarios.filter((s) => s.games.includes(e.id)).map((s) => ({ id: s.id, title: s.title })),
    }))
    .filter((g) => g.scenarios.length > 0);
}

/** The options the page sets for a game (only east-gauss2's mean preset for now). */
export function gameOptions(envId: string, preset: EastPreset): Record<string, unknown> {
  return envId === 'east-gauss2' ? { preset } : {};
}

/** The action labels a scenario (an id of a built-in one, or the scenario) shows for a game, in action order (what the bars are labelled with). */
export function actionLabels(envId: string, options: Record<string, unknown>, which: string | Scenario): string[] {
  const scenario = typeof which === 'string' ? builtinScenarios().find((s) => s.id === which) : which;
  if (!scenario || !scenario.games.includes(envId)) return [];
  return scenarioActions(scenario, createEnv(envId, options).actions()).map((a) => a.label);
}

/**
 * A scenario the user imported or edited, validated (the schema, then that it fits the game) with
 * one line on failure; a built-in id is refused so a stored run always names one scenario.
 */
export function importScenario(text: string, envId: string, options: Record<string, unknown>): Scenario {
  const s = loadScenario(text);
  if (builtinScenarios().some((b) => b.id === s.id)) {
    throw new SteerlabError('BAD_SCENARIO', `scenario id '${s.id}' is built in; give your scenario another id`);
  }
  checkFits(s, createEnv(envId, options));
  return s;
}
