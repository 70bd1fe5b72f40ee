/** `steerlab repro east [--out DIR]`: regenerates docs/results/east.{json,md,svg}. */
import { SteerlabError } from '../engine/errors.js';
import { loadModel } from '../node/models.js';
import { reproduceEast } from '../repro/east.js';
import { parse, print } from './args.js';

export async function reproCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parse(argv, { out: { type: 'string' }, model: { type: 'string' } });
  if (positionals[0] !== 'east') throw new SteerlabError('BAD_ARGUMENT', "usage: steerlab repro east [--out DIR]");
  const session = await loadModel((values.model as string | undefined) ?? 'default');
  try {
    const { points } = await reproduceEast(session, (values.out as string | undefined) ?? 'docs/results', (s) => process.stderr.write(`${s}\n`));
    print(JSON.stringify({ points: points.length }));
  } finally {
    await session.dispose();
  }
}
