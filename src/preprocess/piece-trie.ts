/**
 * WordPiece's vocabulary as two tries over ASCII character codes, for the BERT fast path: one for
 * the pieces that start a word, one for continuations (the `##` prefix taken off). The longest
 * piece at a position is then one walk down a trie that yields its id, where WordPiece slices every
 * candidate and hashes it as a string. The edges live in one open-addressing table keyed by
 * (node, character): a step is a multiply and a typed-array read or two.
 */
export class PieceTrie {
  /** Where the piece `longest` found ends. */
  matchEnd = 0;

  private constructor(
    /** Edge keys (node * 128 + character code + 1; 0: empty slot) and their child nodes. */
    private readonly keys: Int32Array,
    private readonly children: Int32Array,
    private readonly mask: number,
    /** The piece id that ends at each node, or -1. */
    private readonly nodeId: Int32Array,
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
      if (piece.length === 0 || !/^[\x00-\x7f]*$/.test(piece)) continue;
      insert(0, piece, id);
      if (piece.startsWith(continuingPrefix) && piece.length > continuingPrefix.length) insert(1, piece.slice(continuingPrefix.length), id);
    }
    // At most half full, so a miss ends after a probe or two.
    let size = 1024;
    while (size < edges.size * 2) size *= 2;
    const keys = new Int32Array(size);
    const children = new Int32Array(size);
    for (const [key, child] of edges) {
      let slot = PieceTrie.slot(key, size - 1);
      while (keys[slot] !== 0) slot = (slot + 1) & (size - 1);
      keys[slot] = key + 1;
      children[slot] = child;
    }
    return new PieceTrie(keys, children, size - 1, Int32Array.from(ids));
  }

  private static slot(key: number, mask: number): number {
    return Math.imul(key, 0x9e3779b1) >>> 7 & mask;
  }

  /**
   * The id of the longest piece of `codes[start, end)` that starts at `start`, from the word-start
   * trie or the continuation one, with its end in `matchEnd`; -1 when no piece matches.
   */
  longest(codes: Uint8Array, start: number, end: number, continuation: boolean): number {
    let node = continuation ? 1 : 0;
    let found = -1;
    for (let i = start; i < end; i++) {
      const key = node * 128 + codes[i] + 1;
      let slot = PieceTrie.slot(key - 1, this.mask);
      while (this.keys[slot] !== key && this.keys[slot] !== 0) slot = (slot + 1) & this.mask;
      if (this.keys[slot] === 0) break;
      node = this.children[slot];
      if (this.nodeId[node] >= 0) {
        found = this.nodeId[node];
        this.matchEnd = i + 1;
      }
    }
    return found;
  }
}
