/** `steerlab repro east [--out DIR] [--report-only]`: regenerates docs/results/east.{json,md,svg}. */
import { SteerlabError } from '../errors.js';
import { loadModel } from '../node/models.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderEastReport, reproduceEast, type EastJson } from '../repro/east.js';
import { boolean, parseFlags, path, print } from './flags.js';

export async function reproCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseFlags(argv, { out: path().default('docs/results'), model: path().default('default'), 'report-only': boolean() }, { required: ['east'] });
  if (positionals[0] !== 'east') throw new SteerlabError('BAD_ARGUMENT', `unknown 'repro' target '${positionals[0]}' (east); usage: steerlab repro east [--out DIR] [--model M] [--report-only]`);
  const out = values.out;
  if (values['report-only']) {
    // Re-render east.md and the figure from the saved east.json, without running the model.
    renderEastReport(out, JSON.parse(readFileSync(join(out, 'east.json'), 'utf8')) as EastJson);
    print(JSON.stringify({ rendered: out }));
    return;
  }
  const session = await loadModel(values.model);
  try {
    const { points } = await reproduceEast(session, out, (s) => process.stderr.write(`${s}\n`));
    print(JSON.stringify({ points: points.length }));
  } finally {
    await session.dispose();
  }
}
