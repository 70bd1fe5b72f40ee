/**
 * The games and scenario wordings the page offers, read from src/envs: pure data for the Agent
 * panel's pickers and its action labels. Nothing here plays a game; episodes run in the worker.
 */
import { createEnv, EAST_PRESETS, listEnvs } from '../envs/registry.js';
import { builtinScenarios, scenarioActions } from '../envs/scenario.js';

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

/** The action labels a scenario shows for a game, in action order (what the bars are labelled with). */
export function actionLabels(envId: string, options: Record<string, unknown>, scenarioId: string): string[] {
  const scenario = builtinScenarios().find((s) => s.id === scenarioId);
  if (!scenario || !scenario.games.includes(envId)) return [];
  return scenarioActions(scenario, createEnv(envId, options).actions()).map((a) => a.label);
}
