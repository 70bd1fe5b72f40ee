/**
 * Token ids of a growing transcript without re-tokenising all of it each step.
 *
 * Tokenizers split special added tokens (<|im_start|>, <|im_end|>) out of the text before any
 * pre-tokenisation, so the ids of "A<special>B" are ids(A), id(special), ids(B). A new prompt that
 * shares its head with the last one therefore only re-encodes from the last special token inside
 * the shared head. The same anchor serves candidate answers (prompt + prefix + answer): only the
 * short tail after the prompt's last special token is encoded per candidate.
 *
 * Where the tokenizer names no special tokens, or the split rule does not hold for it (checked once
 * against a full encode), every call encodes the full text: slower, same ids.
 */
import type { Tokenizer } from '../engine/tokenizer.js';

interface Anchor {
  /** Char offset where a special token starts, and the index of its token id. */
  char: number;
  token: number;
}

export class TranscriptTokens {
  private text = '';
  private ids: number[] = [];
  private anchors: Anchor[] = [];
  private incremental: boolean;
  private checked = { encode: false, extend: false };
  /** Id -> text of the special tokens that encode to one id. */
  private readonly specialIds = new Map<number, string>();

  constructor(private readonly tok: Tokenizer) {
    for (const s of tok.specialTokens ?? []) {
      const e = tok.encode(s);
      if (e.length === 1) this.specialIds.set(e[0]!, s);
    }
    this.incremental = this.specialIds.size > 0;
  }

  /** Ids of `text` (no BOS/EOS added), reusing the last call's ids up to their shared anchor. */
  encode(text: string): number[] {
    const base = this.incremental ? this.anchorFor(text) : null;
    const ids = base ? [...this.ids.slice(0, base.token), ...this.tok.encode(text.slice(base.char))] : this.tok.encode(text);
    return this.remember(text, base ? this.verified('encode', text, ids) : ids);
  }

  /** Ids of the last encoded text followed by `tail`, encoding only from the text's last anchor. */
  extend(tail: string): number[] {
    const a = this.incremental ? this.anchors.at(-1) : undefined;
    if (!a) return this.tok.encode(this.text + tail);
    return this.verified('extend', this.text + tail, [...this.ids.slice(0, a.token), ...this.tok.encode(this.text.slice(a.char) + tail)]);
  }

  /** The first incremental result of each kind is compared with a full encode; a mismatch turns reuse off. */
  private verified(kind: 'encode' | 'extend', text: string, ids: number[]): number[] {
    if (this.checked[kind]) return ids;
    this.checked[kind] = true;
    const full = this.tok.encode(text);
    if (full.length === ids.length && full.every((x, i) => x === ids[i])) return ids;
    this.incremental = false;
    return full;
  }

  /** The last anchor lying wholly inside the head that `text` shares with the previous text. */
  private anchorFor(text: string): Anchor | null {
    let n = 0;
    const max = Math.min(text.length, this.text.length);
    while (n < max && text.charCodeAt(n) === this.text.charCodeAt(n)) n++;
    for (let i = this.anchors.length - 1; i >= 0; i--) if (this.anchors[i]!.char <= n && this.anchors[i]!.char > 0) return this.anchors[i]!;
    return null;
  }

  private remember(text: string, ids: number[]): number[] {
    this.text = text;
    this.ids = ids;
    this.anchors = this.incremental ? this.findAnchors(text, ids) : [];
    return ids;
  }

  /** Where each special token occurs in the text, matched to its position among the ids. */
  private findAnchors(text: string, ids: number[]): Anchor[] {
    const out: Anchor[] = [];
    let from = 0;
    ids.forEach((id, token) => {
      const s = this.specialIds.get(id);
      if (s === undefined) return;
      const char = text.indexOf(s, from);
      if (char < 0) return;
      out.push({ char, token });
      from = char + s.length;
    });
    return out;
  }
}
