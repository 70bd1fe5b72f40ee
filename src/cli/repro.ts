/**
 * `steerlab repro east [--out DIR] [--report-only]`: regenerates docs/results/east.{json,md,svg};
 * `steerlab repro format [--out DIR]`: docs/results/format.{json,md}.
 */
import { SteerlabError } from '../errors.js';
import { loadModel } from '../node/models.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderEastReport, reproduceEast, type EastJson } from '../repro/east.js';
import { reproduceFormat } from '../repro/format.js';
import { reproduceVReason } from '../repro/vreason.js';
import { boolean, parseFlags, path, print } from './flags.js';

export async function reproCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseFlags(argv, { out: path().default('docs/results'), model: path().default('default'), 'report-only': boolean() }, { required: ['east'] });
  const target = positionals[0];
  if (target !== 'east' && target !== 'format' && target !== 'vreason') throw new SteerlabError('BAD_ARGUMENT', `unknown 'repro' target '${target}' (east, format, vreason); usage: steerlab repro east|format|vreason [--out DIR] [--model M] [--report-only]`);
  const out = values.out;
  if (target === 'vreason') {
    const session = await loadModel(values.model);
    try {
      const j = await reproduceVReason(session, out, (s) => process.stderr.write(`${s}\n`));
      print(JSON.stringify({ minutes: j.minutes }));
    } finally {
      await session.dispose();
    }
    return;
  }
  if (target === 'format') {
    const session = await loadModel(values.model);
    try {
      const rows = await reproduceFormat(session, out, (s) => process.stderr.write(`${s}\n`));
      print(JSON.stringify({ rows: rows.length }));
    } finally {
      await session.dispose();
    }
    return;
  }
  if (values['report-only']) {
    // Re-render east.md and the figure from the saved east.json, without running the model.
    renderEastReport(out, JSON.parse(readFileSync(join(out, 'east.json'), 'utf8')) as EastJson);
    print(JSON.stringify({ rendered: out }));
    return;
  }
  const session = await loadModel(values.model);
  try {
    const { conditions, choice } = await reproduceEast(session, out, (s) => process.stderr.write(`${s}\n`));
    print(JSON.stringify({ conditions: conditions.length, choice }));
  } finally {
    await session.dispose();
  }
}
