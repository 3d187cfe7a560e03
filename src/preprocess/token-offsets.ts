/**
 * Where each token of a text lies in that text, as TEI's /tokenize reports it: `start`/`stop`
 * are byte offsets into the UTF-8 input (what Rust's tokenizers give by default) and `text` is
 * the input between them, original case and accents kept.
 *
 * @huggingface/tokenizers keeps no offsets, so they are recovered: the text is normalized one
 * character at a time (remembering which input character each normalized unit came from) and
 * each token is searched forward in that normalized text. A token that cannot be found there
 * (an unknown-word token, a byte-level piece) spans the input between its neighbours.
 */

export interface Span {
  start: number;
  stop: number;
  text: string;
}

/** The input's characters (code points) with their UTF-16 and UTF-8 positions. */
interface Chars {
  u16: number[];
  bytes: number[];
  /** One entry more than there are characters: the end positions. */
  count: number;
}

function charsOf(text: string): Chars {
  const u16: number[] = [];
  const bytes: number[] = [];
  let byte = 0;
  let i = 0;
  for (const ch of text) {
    u16.push(i);
    bytes.push(byte);
    const cp = ch.codePointAt(0)!;
    byte += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    i += ch.length;
  }
  const count = u16.length;
  u16.push(i);
  bytes.push(byte);
  return { u16, bytes, count };
}

/** Lowercase without accents: what most normalizers amount to, for searching when the model's own cannot run per character. */
export function foldCase(text: string): string {
  return text
    .toLowerCase()
    .normalize('NFD')
    .replace(/\p{Mn}/gu, '');
}

/** Word-piece markers that are not part of the text. */
const MARKERS = /^(##|▁|Ġ)/;

/**
 * Normalized text with, for each of its UTF-16 units, the index of the input character it came
 * from. Uses the model's normalizer when normalizing character by character gives what it gives
 * for the whole text (true of BERT's and most others), else foldCase.
 */
function normalizeAligned(text: string, normalize: ((s: string) => string) | null): { normalized: string; origin: Int32Array; fold: boolean } {
  const chars = [...text];
  let fold = false;
  let parts = normalize ? chars.map(normalize) : chars;
  if (normalize && parts.join('') !== normalize(text)) {
    fold = true;
    parts = chars.map(foldCase);
  }
  const normalized = parts.join('');
  const origin = new Int32Array(normalized.length);
  let at = 0;
  parts.forEach((part, c) => {
    origin.fill(c, at, at + part.length);
    at += part.length;
  });
  return { normalized, origin, fold };
}

/**
 * Spans of `pieces` (model tokens, in order, without special tokens) in `text`; null for a piece
 * that covers no character.
 */
export function locatePieces(text: string, pieces: readonly string[], normalize: ((s: string) => string) | null): (Span | null)[] {
  const chars = charsOf(text);
  const { normalized, origin, fold } = normalizeAligned(text, normalize);
  // Character ranges [from, to) per piece, -1 when not found.
  const from = new Array<number>(pieces.length).fill(-1);
  const to = new Array<number>(pieces.length).fill(-1);
  let cursor = 0;
  pieces.forEach((piece, i) => {
    let bare = piece.replace(MARKERS, '');
    if (fold) bare = foldCase(bare);
    const at = bare.length > 0 ? normalized.indexOf(bare, cursor) : -1;
    if (at < 0) return;
    from[i] = origin[at];
    to[i] = origin[at + bare.length - 1] + 1;
    cursor = at + bare.length;
  });

  // Pieces not found span the text between the found ones around them, spaces trimmed.
  const isSpace = (c: number) => /\s/u.test(text.slice(chars.u16[c], chars.u16[c + 1]));
  let prevEnd = 0;
  for (let i = 0; i < pieces.length; i++) {
    if (from[i] >= 0) {
      prevEnd = Math.max(prevEnd, to[i]);
      continue;
    }
    let next = i + 1;
    while (next < pieces.length && from[next] < 0) next++;
    const start = prevEnd;
    const end = next < pieces.length ? from[next] : chars.count;
    // The gap's words, one per piece when they are as many (each unknown word is one unknown token); else the pieces share the gap.
    const words: [number, number][] = [];
    for (let c = start; c < end; ) {
      while (c < end && isSpace(c)) c++;
      const w = c;
      while (c < end && !isSpace(c)) c++;
      if (c > w) words.push([w, c]);
    }
    const whole: [number, number] = words.length > 0 ? [words[0][0], words[words.length - 1][1]] : [start, start];
    for (let j = i; j < next; j++) [from[j], to[j]] = words.length === next - i ? words[j - i] : whole;
    i = next - 1;
  }

  return pieces.map((_, i) =>
    to[i] > from[i] ? { start: chars.bytes[from[i]], stop: chars.bytes[to[i]], text: text.slice(chars.u16[from[i]], chars.u16[to[i]]) } : null,
  );
}
