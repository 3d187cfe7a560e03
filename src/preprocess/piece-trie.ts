/**
 * WordPiece's vocabulary as two tries over ASCII character codes, for the BERT fast path: one for
 * the pieces that start a word, one for continuations (the `##` prefix taken off). The longest
 * piece at a position is then one walk down a trie that yields its id, where WordPiece slices every
 * candidate and hashes it as a string. The edges live in one open-addressing table keyed by
 * (node, character), each slot holding the key, the child and the child's piece id side by side:
 * a step is a multiply and, mostly, one cache line (measured: bench/tokenize.ts).
 */
export class PieceTrie {
  /** Where the piece `longest` found ends. */
  matchEnd = 0;

  private constructor(
    /** Slot s: [3s] the edge's key (node * 128 + character code + 1; 0: empty), [3s + 1] its child, [3s + 2] the piece id ending there or -1. */
    private readonly slots: Int32Array,
    private readonly mask: number,
  ) {}

  /** Node 0 starts words, node 1 continues them. Pieces with characters outside ASCII are left out: ASCII text never reaches them. */
  static build(vocab: ReadonlyMap<string, number>, continuingPrefix: string): PieceTrie {
    const edges = new Map<number, number>();
    const ids: number[] = [-1, -1];
    const insert = (root: number, piece: string, id: number) => {
      let node = root;
      for (let i = 0; i < piece.length; i++) {
        const key = node * 128 + piece.charCodeAt(i);
        let next = edges.get(key);
        if (next === undefined) {
          next = ids.length;
          ids.push(-1);
          edges.set(key, next);
        }
        node = next;
      }
      ids[node] = id;
    };
    for (const [piece, id] of vocab) {
      // biome-ignore lint/suspicious/noControlCharactersInRegex: the test is for ASCII, control characters included
      if (piece.length === 0 || !/^[\x00-\x7f]*$/.test(piece)) continue;
      insert(0, piece, id);
      if (piece.startsWith(continuingPrefix) && piece.length > continuingPrefix.length) insert(1, piece.slice(continuingPrefix.length), id);
    }
    // At most ~60 % full, so a lookup ends after a probe or two.
    let size = 1024;
    while (size * 0.6 < edges.size) size *= 2;
    const slots = new Int32Array(size * 3);
    for (const [key, child] of edges) {
      let slot = PieceTrie.slot(key, size - 1);
      while (slots[slot * 3] !== 0) slot = (slot + 1) & (size - 1);
      slots[slot * 3] = key + 1;
      slots[slot * 3 + 1] = child;
      slots[slot * 3 + 2] = ids[child];
    }
    return new PieceTrie(slots, size - 1);
  }

  private static slot(key: number, mask: number): number {
    return (Math.imul(key, 0x9e3779b1) >>> 7) & mask;
  }

  /**
   * The id of the longest piece of `codes[start, end)` that starts at `start`, from the word-start
   * trie or the continuation one, with its end in `matchEnd`; -1 when no piece matches.
   */
  longest(codes: Uint8Array, start: number, end: number, continuation: boolean): number {
    const slots = this.slots;
    let node = continuation ? 1 : 0;
    let found = -1;
    for (let i = start; i < end; i++) {
      const key = node * 128 + codes[i];
      let slot = PieceTrie.slot(key, this.mask);
      let at = slot * 3;
      while (slots[at] !== key + 1) {
        if (slots[at] === 0) return found;
        slot = (slot + 1) & this.mask;
        at = slot * 3;
      }
      node = slots[at + 1];
      if (slots[at + 2] >= 0) {
        found = slots[at + 2];
        this.matchEnd = i + 1;
      }
    }
    return found;
  }
}
