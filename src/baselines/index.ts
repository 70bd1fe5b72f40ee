/** Public surface of the baselines: reference policies and the runner that traces them. */
export {
  RandomPolicy,
  GreedyPolicy,
  EpsilonGreedyPolicy,
  UcbPolicy,
  ThompsonPolicy,
  OptimalPolicy,
  type Policy,
  type Decision,
  type ThompsonOptions,
} from './policies';
export { runBaseline, createPolicy, POLICY_NAMES, type PolicyName, type PolicyOptions, type BaselineOptions } from './run';
