/** `steerlab generate`: one completion, optionally steered, as text or JSON. */
import { DTYPE_SUFFIX } from '../engine/sources/folder.js';
import { loadModel } from '../node/models.js';
import { settingHooks } from '../steering/control-vector.js';
import { Rng } from '../util/rng.js';
import { boolean, int, number, oneOf, parseFlags, print, steeringFlags, text, vreason } from './flags.js';
import { generateWithVReason } from '../steering/vreason/run.js';
import { describeSetting, settingFromFlags } from './steering.js';

export const DTYPES = Object.keys(DTYPE_SUFFIX);

const generateFlags = {
  prompt: text(),
  chat: boolean(),
  'max-new-tokens': int({ min: 1 }).default(64),
  temperature: number({ min: 0 }).default(0),
  'top-p': number({ gt: 0, max: 1 }).default(1),
  seed: int().default(0),
  json: boolean(),
  dtype: oneOf(DTYPES).optional(),
  vreason: vreason().optional(),
  ...steeringFlags,
};

export async function generateCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseFlags(argv, generateFlags, { required: ['<model>'] });
  const setting = settingFromFlags(values);
  const session = await loadModel(positionals[0]!, { dtype: values.dtype });
  try {
    setting?.vector.checkFits(session.info);
    const text = values.chat ? session.chat([{ role: 'user', content: values.prompt }]) : values.prompt;
    // Raw text gets the model's BOS when its tokenizer adds one (Gemma needs it); a chat template writes its own.
    const promptIds = session.encode(text, !values.chat);
    const rng = new Rng(values.seed);
    const opts = {
      maxNewTokens: values['max-new-tokens'],
      temperature: values.temperature,
      topP: values['top-p'],
      random: () => rng.next(),
      add: settingHooks(setting),
    };
    const r = values.vreason ? await generateWithVReason(session, promptIds, opts, values.vreason) : { ...(await session.generate(promptIds, opts)), vreason: undefined };
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
        steering: describeSetting(setting),
        ...(r.vreason ? { vreason: { settings: values.vreason, tokens: r.vreason } } : {}),
      }));
    } else print(r.text);
  } finally {
    await session.dispose();
  }
}
