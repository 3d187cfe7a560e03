type Packable = Float32Array | Uint32Array | Uint8Array;

/**
 * Copies typed arrays into one new buffer and returns views of it, in order. A message then
 * transfers one buffer instead of one per array: each transferred buffer costs an allocation and
 * a detach on one side and a new ArrayBuffer on the other, per text or per vector.
 */
export function packViews<T extends Packable>(arrays: readonly T[], make: (length: number) => T): T[] {
  let total = 0;
  for (const a of arrays) total += a.length;
  const packed = make(total);
  let at = 0;
  return arrays.map((a) => {
    const view = packed.subarray(at, at + a.length) as T;
    view.set(a);
    at += a.length;
    return view;
  });
}

/** packViews over several lists at once: the views list by list, and the one buffer to transfer (null: nothing packed). */
export function packGroups<T extends Packable>(groups: readonly (readonly T[])[], make: (length: number) => T): { groups: T[][]; buffer: ArrayBuffer | null } {
  const flat = packViews(groups.flat() as T[], make);
  let at = 0;
  const out = groups.map((g) => flat.slice(at, (at += g.length)));
  return { groups: out, buffer: flat.length > 0 ? (flat[0].buffer as ArrayBuffer) : null };
}
