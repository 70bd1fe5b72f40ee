/** `steerlab generate`: one completion, optionally steered, as text or JSON. */
import { readFileSync } from 'node:fs';
import { SteerlabError } from '../errors.js';
import type { Steering } from '../engine/session.js';
import { loadModel } from '../node/models.js';
import { parseVectorFile } from '../steering/vector.js';
import { Rng } from '../util/rng.js';
import { need, num, parse, print } from './args.js';

export function steeringFromFlags(values: Record<string, unknown>, positions: Steering['positions'] = 'generated'): Steering | null {
  if (values.vector === undefined) {
    if (values.beta !== undefined || values.layer !== undefined) throw new SteerlabError('BAD_ARGUMENT', '--layer/--beta need --vector FILE');
    return null;
  }
  const file = parseVectorFile(readFileSync(String(values.vector), 'utf8'));
  const layer = values.layer === undefined ? file.layer : num(values.layer, 'layer');
  return { vectors: [{ layer, vector: Float32Array.from(file.vector), beta: num(values.beta, 'beta', 1) }], positions };
}

export const steeringFlags = {
  vector: { type: 'string' },
  layer: { type: 'string' },
  beta: { type: 'string' },
  positions: { type: 'string' },
} as const;

export async function generateCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parse(argv, {
    prompt: { type: 'string' },
    chat: { type: 'boolean' },
    'max-new-tokens': { type: 'string' },
    temperature: { type: 'string' },
    'top-p': { type: 'string' },
    seed: { type: 'string' },
    json: { type: 'boolean' },
    dtype: { type: 'string' },
    ...steeringFlags,
  });
  const prompt = need(values.prompt as string | undefined, '--prompt TEXT');
  const positions = (values.positions as Steering['positions'] | undefined) ?? 'generated';
  if (!['all', 'prompt', 'generated'].includes(positions)) throw new SteerlabError('BAD_ARGUMENT', '--positions must be all, prompt or generated');
  const steering = steeringFromFlags(values, positions);
  const session = await loadModel(need(positionals[0], '<model>'), { dtype: values.dtype as string | undefined });
  try {
    const text = values.chat ? session.chat([{ role: 'user', content: prompt }]) : prompt;
    const promptIds = session.encode(text);
    const rng = new Rng(num(values.seed, 'seed', 0));
    const r = await session.generate(promptIds, {
      maxNewTokens: num(values['max-new-tokens'], 'max-new-tokens', 64),
      temperature: num(values.temperature, 'temperature', 0),
      topP: num(values['top-p'], 'top-p', 1),
      random: () => rng.next(),
      steering,
    });
    r.cache.dispose();
    if (values.json) {
      print(JSON.stringify({
        text: r.text,
        promptIds,
        ids: r.ids,
        logprobs: r.tokens.map((t) => t.logprob),
        entropies: r.tokens.map((t) => t.entropy),
        stoppedBy: r.stoppedBy,
        model: { id: session.info.modelId, hash: session.info.hash },
        steering: steering ? { layer: steering.vectors[0]!.layer, beta: steering.vectors[0]!.beta, positions } : null,
      }));
    } else print(r.text);
  } finally {
    await session.dispose();
  }
}
