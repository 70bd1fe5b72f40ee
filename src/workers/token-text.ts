/**
 * Per-token display text. Decoding each token alone breaks characters that span tokens (a
 * byte-level BPE token can hold half of a UTF-8 sequence, which decodes to U+FFFD). Instead each
 * token gets what it adds to the decoded prefix; an incomplete character is held back until the
 * token that completes it, so the pieces concatenate to the decoded whole.
 */
export function tokenTexts(decode: (ids: number[]) => string, ids: number[]): string[] {
  const out: string[] = [];
  let shown = '';
  for (let i = 0; i < ids.length; i++) {
    let cur = decode(ids.slice(0, i + 1));
    if (i < ids.length - 1) cur = cur.replace(/\uFFFD+$/, '');
    if (cur.startsWith(shown)) {
      out.push(cur.slice(shown.length));
      shown = cur;
    } else {
      // Decoding is not prefix-stable here (a normaliser or clean-up rule): fall back to the token alone.
      out.push(decode([ids[i]!]));
      shown = cur;
    }
  }
  return out;
}
