/**
 * The acted-on thought as the lab shows it: each token's text, the entropy it was drawn with, and
 * its top alternatives; stored in the step's extra.tokens (sampled and thought modes).
 */
import type { GeneratedToken, ModelSession } from '../engine/session.js';

export interface TokenView {
  /** The token's text (a lone piece of a multi-byte character shows as U+FFFD). */
  t: string;
  /** Entropy (nats) of the distribution it was drawn from. */
  h: number;
  /** The most probable tokens there, as [text, p]. */
  top?: [string, number][];
}

/** How many alternatives a step records per token. */
export const TOP_ALTERNATIVES = 3;

export function tokenView(session: ModelSession, tokens: readonly GeneratedToken[]): TokenView[] {
  const round = (x: number) => Math.round(x * 1e4) / 1e4;
  return tokens.map((tok) => ({
    t: session.decode([tok.id]),
    h: round(tok.entropy),
    ...(tok.top ? { top: tok.top.map((a) => [session.decode([a.id]), round(a.p)] as [string, number]) } : {}),
  }));
}
