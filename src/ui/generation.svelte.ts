/**
 * The Generate panel's state: the prompt and its settings, and the plain/steered pair made from
 * them with the same seed, steered by the page's one steering control (steering.svelte.ts).
 */
import type { GenerateRequest, GenerateResponse } from '../workers/api.js';
import type { ModelClient } from '../workers/client.js';
import { describe } from './describe.js';
import type { SteeringState } from './steering.svelte.js';

export interface GenerationPair {
  plain: GenerateResponse;
  steered: GenerateResponse;
  /** What the steered run used ("layer 1, β 8, generated positions, random unit direction, seed 7"). */
  caption: string;
}

export class GenerationState {
  prompt = $state('Tell me about the ocean in two sentences.');
  chat = $state(true);
  maxNewTokens = $state(32);
  temperature = $state(0);
  seed = $state(1);

  busy = $state(false);
  error = $state<string | null>(null);
  pair = $state.raw<GenerationPair | null>(null);

  constructor(
    private readonly client: ModelClient,
    private readonly steering: Pick<SteeringState, 'current'>,
  ) {}

  /** The outputs belong to the model that made them: a new load clears them. */
  clear(): void {
    this.pair = null;
    this.error = null;
  }

  /** Generates twice with the same seed: without steering, then with the page's steering. */
  async generatePair(): Promise<void> {
    const s = this.steering.current;
    if ('problem' in s) {
      this.error = s.problem;
      return;
    }
    this.busy = true;
    this.error = null;
    const req: GenerateRequest = { prompt: this.prompt, chat: this.chat, maxNewTokens: this.maxNewTokens, temperature: this.temperature, seed: this.seed };
    try {
      const plain = await this.client.generate(req);
      const steered = await this.client.generate({ ...req, steering: s.wire });
      this.pair = { plain, steered, caption: s.caption };
    } catch (e) {
      this.error = describe(e);
    } finally {
      this.busy = false;
    }
  }
}
