/**
 * `n` zeros in a plain array that V8 keeps as unboxed doubles: built from a double (0.5), so its
 * elements kind is PACKED_DOUBLE from the start and never changes when doubles are stored later. A
 * Float64Array would cost ~150 bytes more per instance (its ArrayBuffer), which counts in state that
 * every connection keeps.
 */
export function zeroDoubles(n: number): number[] {
  const a: number[] = [];
  for (let i = 0; i < n; i++) a.push(0.5);
  return a.fill(0);
}
