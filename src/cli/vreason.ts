/** `steerlab vreason gradcheck`: V-Reason's exact gradient against finite differences through the model. */
import { SteerlabError } from '../errors.js';
import { loadModel } from '../node/models.js';
import { gradCheck } from '../steering/vreason/gradcheck.js';
import { int, oneOf, parseFlags, print, text } from './flags.js';
import { DTYPES } from './generate.js';

const gradFlags = {
  model: text().default('default'),
  prompt: text().default('The three primary colours are red, yellow and'),
  directions: int({ min: 1, max: 50 }).default(6),
  seed: int().default(0),
  dtype: oneOf(DTYPES).optional(),
};

/** Largest relative error accepted (float32 model, central differences). */
export const GRADCHECK_TOLERANCE = 1e-3;

export async function vreasonCommand(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub !== 'gradcheck') throw new SteerlabError('BAD_ARGUMENT', `unknown vreason subcommand '${sub ?? ''}' (known: gradcheck)`);
  const { values } = parseFlags(rest, gradFlags);
  const session = await loadModel(values.model, { dtype: values.dtype });
  try {
    const ids = session.encode(values.prompt);
    const r = await gradCheck(session, ids, { directions: values.directions, seed: values.seed });
    for (const c of r.checks) print(`directional derivative: finite difference ${c.fd.toExponential(6)}, analytic ${c.analytic.toExponential(6)}, relative error ${c.relError.toExponential(2)}`);
    print(`model ${session.info.modelId}: ${ids.length} tokens, ${r.rows} value rows of layer ${session.info.layers - 1}, tail vs model logits max |diff| ${r.tailError.toExponential(2)}`);
    print(`max relative error ${r.maxRelError.toExponential(3)}`);
    if (!(r.maxRelError <= GRADCHECK_TOLERANCE)) {
      process.exitCode = 1;
      process.stderr.write(`steerlab: the gradient check failed (max relative error above ${GRADCHECK_TOLERANCE})\n`);
    }
  } finally {
    await session.dispose();
  }
}
