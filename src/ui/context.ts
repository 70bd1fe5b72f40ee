/**
 * How the page's state reaches its components: one Svelte context per concern, under typed keys.
 * main.ts builds the states (createLab) and mounts the app with labContext(lab); a component
 * takes what it needs with MODEL.get(), STEERING.get(), GENERATION.get() or AGENT.get().
 */
import { getContext, hasContext, setContext } from 'svelte';
import type { ModelClient } from '../workers/client.js';
import { AgentState } from './agent.svelte.js';
import { GenerationState } from './generation.svelte.js';
import { ModelState } from './model.svelte.js';
import { SteeringState } from './steering.svelte.js';

/** A context key that knows its value's type. */
export class ContextKey<T> {
  readonly symbol: symbol;
  constructor(readonly name: string) {
    this.symbol = Symbol(name);
  }
  /** The value set above the calling component (call during component initialisation). */
  get(): T {
    if (!hasContext(this.symbol)) throw new Error(`no ${this.name} in context: mount the app with labContext(lab)`);
    return getContext<T>(this.symbol);
  }
  set(value: T): T {
    return setContext(this.symbol, value);
  }
}

export const MODEL = new ContextKey<ModelState>('steerlab model');
export const STEERING = new ContextKey<SteeringState>('steerlab steering');
export const GENERATION = new ContextKey<GenerationState>('steerlab generation');
export const AGENT = new ContextKey<AgentState>('steerlab agent');

/** The page's state, one object per concern. */
export interface Lab {
  model: ModelState;
  steering: SteeringState;
  generation: GenerationState;
  agent: AgentState;
}

/** Builds the states over one worker client and joins them: a new model moves the layer to fit and clears old outputs. */
export function createLab(client: ModelClient): Lab {
  const model = new ModelState(client);
  const steering = new SteeringState(model);
  const generation = new GenerationState(client, steering);
  const agent = new AgentState(client, steering);
  model.onChange((info) => {
    generation.clear();
    if (info) steering.fitTo(info);
  });
  return { model, steering, generation, agent };
}

/** The context map for mount(App, { context }). */
export function labContext(lab: Lab): Map<symbol, unknown> {
  return new Map<symbol, unknown>([
    [MODEL.symbol, lab.model],
    [STEERING.symbol, lab.steering],
    [GENERATION.symbol, lab.generation],
    [AGENT.symbol, lab.agent],
  ]);
}
