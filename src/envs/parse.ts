/**
 * Maps a free-text completion to an action id, following the scenario's parser spec.
 * Returns null when no valid action can be read; the caller applies the scenario's onInvalid.
 */
import type { Scenario } from './scenario';
import { renderTemplate } from './template';
import type { ActionSpec } from './types';

/** Trims whitespace, quotes, markdown emphasis, brackets and trailing punctuation; lower-cases. */
function normalize(text: string): string {
  return text
    .replace(/^[\s"'`*_([{]+|[\s"'`*_.,;:!?)\]}]+$/g, '')
    .replace(/\s+/g, ' ')
    .toLowerCase();
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * @param actions the actions as the scenario shows them (see scenarioActions); each is matched by
 *   its answer text (scenario.answer.text rendered for it) or its label, case-insensitively.
 */
export function parseAction(scenario: Scenario, completion: string, actions: readonly ActionSpec[]): number | null {
  const parser = scenario.parser;
  if (parser.kind === 'regex') {
    const matches = [...completion.matchAll(new RegExp(parser.pattern, `${parser.flags}g`))];
    const match = parser.occurrence === 'first' ? matches[0] : matches[matches.length - 1];
    if (!match) return null;
    const captured = match.slice(1).find((g) => g !== undefined);
    if (captured === undefined) return null;
    const said = normalize(captured);
    for (const a of actions) {
      const answer = normalize(renderTemplate(scenario.answer.text, { n: a.id + 1, label: a.label }));
      if (said === answer || said === normalize(a.label)) return a.id;
    }
    return null;
  }
  // Label mode: the first label mentioned after the marker, as a whole word; on a tie at the same
  // position the longer label wins ("light blue" over "light").
  let region = completion;
  if (parser.marker) {
    const at = completion.toLowerCase().lastIndexOf(parser.marker.toLowerCase());
    if (at < 0) return null;
    region = completion.slice(at + parser.marker.length);
  }
  let best: { id: number; index: number; length: number } | null = null;
  for (const a of actions) {
    const re = new RegExp(`(?<![\\p{L}\\p{N}])${escapeRegex(a.label)}(?![\\p{L}\\p{N}])`, 'iu');
    const m = re.exec(region);
    if (!m) continue;
    if (!best || m.index < best.index || (m.index === best.index && a.label.length > best.length)) {
      best = { id: a.id, index: m.index, length: a.label.length };
    }
  }
  return best ? best.id : null;
}
