/** Public surface of the metrics: pure functions over action/reward sequences and run summaries. */
export { entropy, actionFrequencies } from './entropy';
export {
  REGRET_TOL,
  cumulativeRegret,
  halfway,
  suffixFailure,
  suffFailFreq,
  minFrac,
  kMinFrac,
  greedyFrac,
  bestArmFrac,
  coverage,
  invalidRate,
  meanReward,
} from './exploration';
export { tQuantile975, interval95, mean, sampleSd, type Interval } from './stats';
export { summarizeRun, aggregate, METRIC_KEYS, type MetricKey, type RunSummary, type Aggregate, type StepLike } from './summary';
