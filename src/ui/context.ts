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
import { LibraryState } from './library.svelte.js';
import { RunsState } from './runs.svelte.js';
import { applySetup, labSetup } from './lab-setup.js';
import { decodeSetup, encodeSetup } from './setup.js';
import { describe } from './describe.js';
import { openLabDb, type LabDb } from './store/db.js';
import { RunStore } from './store/runs.js';
import { VectorStore } from './store/vectors.js';
import { keepSaving, restoreLast } from './persist.svelte.js';

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
export const RUNS = new ContextKey<RunsState>('steerlab runs');
export const LIBRARY = new ContextKey<LibraryState>('steerlab library');
export const LAB = new ContextKey<Lab>('steerlab lab');

/** The page's state, one object per concern. */
export interface Lab {
  model: ModelState;
  steering: SteeringState;
  generation: GenerationState;
  agent: AgentState;
  runs: RunsState;
  library: LibraryState;
  /** The controls as a shareable setup, and back. */
  setup(): ReturnType<typeof labSetup>;
  apply(s: ReturnType<typeof labSetup>): void;
  /** The page URL that restores the current setup. */
  link(): string;
}

/**
 * Builds the states over one worker client and joins them: a new model moves the layer to fit,
 * clears old outputs and reads its residual norms; runs and vectors live in IndexedDB (`db`,
 * opened by init()).
 */
export function createLab(client: ModelClient): Lab & { init(db?: () => Promise<LabDb>, fragment?: string): Promise<void> } {
  const model = new ModelState(client);
  const library = new LibraryState(client, null);
  const steering = new SteeringState(model, library);
  const generation = new GenerationState(client, steering);
  const runs = new RunsState(null);
  let agent: AgentState;
  const setup = () => labSetup(agent, steering);
  agent = new AgentState(client, steering, runs, setup);
  model.onChange((info) => {
    generation.clear();
    steering.residNorms = null;
    if (info) {
      steering.fitTo(info);
      client.residualNorms().then(
        (n) => (steering.residNorms = n),
        () => {},
      );
    }
  });
  const lab = {
    model,
    steering,
    generation,
    agent,
    runs,
    library,
    setup,
    apply: (s: ReturnType<typeof labSetup>) => applySetup(s, agent, steering),
    link: () => `${location.origin}${location.pathname}${location.search}#${encodeSetup(setup())}`,
    /** Opens the store; restores the setup from `fragment` (a link) or else the last one saved, then keeps saving it. */
    async init(db: () => Promise<LabDb> = () => openLabDb(), fragment = '') {
      const opened = db();
      await Promise.all([runs.init(async () => new RunStore(await opened)), library.init(async () => new VectorStore(await opened))]);
      // imported scenarios: kept, and read back on the next visit
      try {
        const d = await opened;
        agent.customScenarios = (await d.getAll('scenarios')).map((r) => r.scenario);
        agent.saveScenario = (s) => void d.put('scenarios', { id: s.id, scenario: structuredClone(s), createdAt: Date.now() }).catch(() => {});
        restoreFromFragment(lab, fragment);
        if (!fragment.startsWith('#setup=') && !fragment.startsWith('setup=')) await restoreLast(d, (s) => applySetup(s, agent, steering)).catch(() => false);
        keepSaving(d, setup);
      } catch {
        // no IndexedDB: runs.problem already says so; a link still applies
        restoreFromFragment(lab, fragment);
      }
    },
  };
  return lab;
}

/** Restores the setup in the URL fragment, if any; a bad one leaves the controls as they are and says why. */
export function restoreFromFragment(lab: Lab, fragment: string): void {
  try {
    const s = decodeSetup(fragment);
    if (s) {
      lab.apply(s);
      // applied once: a reload then restores the latest saved controls, not the link again
      if (typeof history !== 'undefined') history.replaceState(null, '', `${location.pathname}${location.search}`);
    }
  } catch (e) {
    lab.agent.linkProblem = describe(e);
  }
}

/** The context map for mount(App, { context }). */
export function labContext(lab: Lab): Map<symbol, unknown> {
  return new Map<symbol, unknown>([
    [MODEL.symbol, lab.model],
    [STEERING.symbol, lab.steering],
    [GENERATION.symbol, lab.generation],
    [AGENT.symbol, lab.agent],
    [RUNS.symbol, lab.runs],
    [LIBRARY.symbol, lab.library],
    [LAB.symbol, lab],
  ]);
}
