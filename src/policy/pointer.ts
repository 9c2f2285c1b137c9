// JSON pointers (RFC 6901): how diagnostics and the source map name a place in the policy.

export function escapePointer(seg: string): string {
  return seg.replace(/~/g, "~0").replace(/\//g, "~1");
}

export function pointerOf(...segments: readonly (string | number)[]): string {
  return segments.map((s) => `/${escapePointer(String(s))}`).join("");
}
