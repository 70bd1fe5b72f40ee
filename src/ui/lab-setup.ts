/**
 * The page's controls as a LabSetup (src/ui/setup.ts) and back: what a run stores, what the URL
 * fragment carries, what a fork restores. Only the controls are read and written here.
 */
import type { AgentState } from './agent.svelte.js';
import type { LabSetup } from './setup.js';
import { SETUP_VERSION } from './setup.js';
import type { SteeringState } from './steering.svelte.js';

export function labSetup(agent: AgentState, steering: SteeringState): LabSetup {
  return {
    v: SETUP_VERSION,
    env: agent.env,
    scenario: agent.scenario,
    ...(agent.customScenario ? { scenarioJson: JSON.parse(JSON.stringify(agent.customScenario)) as Record<string, unknown> } : {}),
    ...(agent.env === 'east-gauss2' ? { preset: agent.preset } : {}),
    policy: agent.policy,
    mode: agent.mode,
    samples: agent.samples,
    maxThoughtTokens: agent.maxThoughtTokens,
    temperature: agent.temperature,
    minValidMass: agent.minValidMass,
    horizon: agent.horizon,
    seed: agent.seed,
    steering: {
      // a file read this session is in the library too; a link names library vectors by id
      source: steering.source === 'random' ? 'random' : 'library',
      seed: steering.seed,
      vectorId: steering.source === 'library' ? steering.libraryId : null,
      layer: steering.layer,
      beta: steering.beta,
      positions: steering.positions,
      scale: steering.scale,
    },
    vreason: { ...agent.vreason },
  };
}

export function applySetup(s: LabSetup, agent: AgentState, steering: SteeringState): void {
  agent.selectEnv(s.env);
  if (s.scenarioJson) agent.addScenario(JSON.stringify(s.scenarioJson));
  agent.scenario = s.scenario;
  if (s.preset) agent.preset = s.preset;
  agent.policy = s.policy;
  agent.mode = s.mode;
  agent.samples = s.samples;
  agent.maxThoughtTokens = s.maxThoughtTokens;
  agent.temperature = s.temperature;
  agent.minValidMass = s.minValidMass;
  agent.horizon = s.horizon;
  agent.seed = s.seed;
  agent.vreason = { ...s.vreason };
  steering.seed = s.steering.seed;
  steering.layer = s.steering.layer;
  steering.beta = s.steering.beta;
  steering.positions = s.steering.positions as SteeringState['positions'];
  steering.scale = s.steering.scale;
  if (s.steering.source === 'library' && s.steering.vectorId) {
    steering.libraryId = s.steering.vectorId;
    steering.source = 'library';
  } else {
    steering.source = 'random';
  }
}
