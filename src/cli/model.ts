/** `steerlab model fetch|info` and `steerlab tokenize`. */
import { readFileSync } from 'node:fs';
import { SteerlabError } from '../errors.js';
import { fetchDefaultModel } from '../node/fetch.js';
import { loadTokenizerOnly, modelInfo } from '../node/inspect.js';
import { need, parse, print } from './args.js';

export async function modelCommand(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub === 'fetch') {
    const path = await fetchDefaultModel((l) => process.stderr.write(`${l}\n`));
    print(path);
    return;
  }
  if (sub === 'info') {
    const { values, positionals } = parse(rest, { dtype: { type: 'string' } });
    print(JSON.stringify(modelInfo(need(positionals[0], '<model>'), values.dtype as string | undefined)));
    return;
  }
  throw new SteerlabError('BAD_ARGUMENT', `unknown 'model' subcommand '${sub ?? ''}' (fetch, info)`);
}

export async function tokenizeCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parse(argv, { json: { type: 'string' } });
  const file = need(values.json as string | undefined, '--json FILE');
  let texts: unknown;
  try {
    texts = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new SteerlabError('BAD_ARGUMENT', `${file}: ${(e as Error).message}`);
  }
  if (!Array.isArray(texts) || texts.some((t) => typeof t !== 'string')) throw new SteerlabError('BAD_ARGUMENT', `${file} must hold a JSON array of strings`);
  const tok = loadTokenizerOnly(need(positionals[0], '<model>'));
  print(JSON.stringify((texts as string[]).map((t) => tok.encode(t))));
}
