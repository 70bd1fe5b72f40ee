/** Public surface of the games: environments, scenarios, parsing and prompt building. */
export * from './types';
export { Bandit, type BanditSpec } from './bandit';
export { FrozenLake, FROZENLAKE_MAPS, checkFrozenLakeMap, type FrozenLakeOptions } from './frozenlake';
export { CliffWalking, type CliffWalkingOptions } from './cliffwalking';
export { createEnv, listEnvs, EAST_PRESETS, VIDEO_NAMES, type EnvInfo } from './registry';
export {
  scenarioSchema,
  loadScenario,
  builtinScenarios,
  getScenario,
  checkFits,
  scenarioActions,
  answerCompletion,
  TEMPLATE_FIELDS,
  type Scenario,
  type ScenarioAction,
  type HistoryStyle,
} from './scenario';
export { parseAction } from './parse';
export { buildMessages, renderFeedback, renderSummary, type ChatMessage, type Turn, type History } from './prompt';
export { renderTemplate, placeholders, formatNumber } from './template';
