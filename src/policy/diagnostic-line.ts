// A diagnostic on one line (`file:line:col: error: message`): for logs and the daemon's status, where
// the caret display of cli/diagnostics.ts does not fit.
import type { Diagnostic } from "./types.js";

/** Where a diagnostic points, as editors and CI annotations read it. */
export function where(d: Diagnostic): string {
  const l = d.location;
  return l ? `${l.file}:${l.start.line}:${l.start.column}` : "backhaul";
}

export function formatOneLine(d: Diagnostic): string {
  return `${where(d)}: ${d.severity}: ${d.summary}${d.detail ? ` (${d.detail})` : ""}`;
}
