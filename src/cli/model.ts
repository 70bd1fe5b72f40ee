/** `steerlab model fetch [NAME]|info` and `steerlab tokenize`. */
import { readFileSync } from 'node:fs';
import { SteerlabError } from '../errors.js';
import { fetchModel } from '../node/fetch.js';
import { knownModelNames } from '../node/registry.js';
import { loadTokenizerOnly, modelInfo } from '../node/inspect.js';
import { DTYPES } from './generate.js';
import { oneOf, parseFlags, path, print } from './flags.js';

export async function modelCommand(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub === 'fetch') {
    // model fetch [NAME]: NAME is a registry name (default, smollm2-135m, gemma3-270m).
    const { positionals } = parseFlags(rest, {}, { rest: true });
    if (positionals.length > 1) throw new SteerlabError('BAD_ARGUMENT', `unexpected argument '${positionals[1]}' (model fetch takes one name: ${knownModelNames().join(', ')})`);
    const path = await fetchModel(positionals[0] ?? 'default', { log: (l) => process.stderr.write(`${l}\n`) });
    print(path);
    return;
  }
  if (sub === 'info') {
    const { values, positionals } = parseFlags(rest, { dtype: oneOf(DTYPES).optional() }, { required: ['<model>'] });
    print(JSON.stringify(modelInfo(positionals[0]!, values.dtype)));
    return;
  }
  throw new SteerlabError('BAD_ARGUMENT', `unknown 'model' subcommand '${sub ?? ''}' (fetch, info)`);
}

export async function tokenizeCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseFlags(argv, { json: path() }, { required: ['<model>'] });
  const file = values.json;
  let texts: unknown;
  try {
    texts = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new SteerlabError('BAD_ARGUMENT', `${file}: ${(e as Error).message}`);
  }
  if (!Array.isArray(texts) || texts.some((t) => typeof t !== 'string')) throw new SteerlabError('BAD_ARGUMENT', `${file} must hold a JSON array of strings`);
  const tok = loadTokenizerOnly(positionals[0]!);
  print(JSON.stringify((texts as string[]).map((t) => tok.encode(t))));
}
