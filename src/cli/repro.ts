/** `steerlab repro east [--out DIR] [--report-only]`: regenerates docs/results/east.{json,md,svg}. */
import { SteerlabError } from '../errors.js';
import { loadModel } from '../node/models.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderEastReport, reproduceEast, type EastJson } from '../repro/east.js';
import { parse, print } from './args.js';

export async function reproCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parse(argv, { out: { type: 'string' }, model: { type: 'string' }, 'report-only': { type: 'boolean' } });
  if (positionals[0] !== 'east') throw new SteerlabError('BAD_ARGUMENT', 'usage: steerlab repro east [--out DIR] [--report-only]');
  const out = (values.out as string | undefined) ?? 'docs/results';
  if (values['report-only']) {
    // Re-render east.md and the figure from the saved east.json, without running the model.
    renderEastReport(out, JSON.parse(readFileSync(join(out, 'east.json'), 'utf8')) as EastJson);
    print(JSON.stringify({ rendered: out }));
    return;
  }
  const session = await loadModel((values.model as string | undefined) ?? 'default');
  try {
    const { points } = await reproduceEast(session, out, (s) => process.stderr.write(`${s}\n`));
    print(JSON.stringify({ points: points.length }));
  } finally {
    await session.dispose();
  }
}
