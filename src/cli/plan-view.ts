// The human form of a plan document: drift first, then changes grouped by kind and reason.
import type { KindName } from "../kinds/types.js";
import { BUILD_ORDER, describeObject } from "../kinds/registry.js";
import type { Change, DriftEntry, PlanDocument } from "../core/plan/document.js";

const LEGEND: readonly (readonly [string, string])[] = [
  ["+", "add"],
  ["~", "change in place"],
  ["-", "delete"],
  ["-/+", "replace"],
];

function symbolOf(c: Change): string {
  if (c.actions.length === 2) return "-/+";
  return c.actions[0] === "create" ? "+" : c.actions[0] === "update" ? "~" : "-";
}

function changeLine(c: Change): string {
  const what =
    c.before !== null && c.after !== null
      ? `${describeObject(c.before)} → ${describeObject(c.after)}`
      : describeObject((c.after ?? c.before)!);
  return `  ${symbolOf(c)} ${what}  [${c.disruption}]`;
}

function driftLine(d: DriftEntry): { symbol: string; line: string } {
  if (d.before === null)
    return { symbol: "+", line: `  + ${describeObject(d.after!)}  (added outside backhaul)` };
  if (d.after === null)
    return { symbol: "-", line: `  - ${describeObject(d.before)}  (removed outside backhaul)` };
  return { symbol: "~", line: `  ~ ${describeObject(d.before)} → ${describeObject(d.after)}` };
}

/** `explain`: lines naming where in the policy each change comes from (plan --explain). */
export function renderHuman(doc: PlanDocument, explain?: (c: Change) => readonly string[]): string {
  const out: string[] = [];
  const symbols = new Set<string>();
  if (doc.drift.length > 0) {
    out.push("Objects changed outside backhaul since the last apply:");
    for (const d of doc.drift) {
      const { symbol, line } = driftLine(d);
      symbols.add(symbol);
      out.push(line);
    }
    out.push("");
  }
  if (doc.changes.length === 0) {
    out.push("No changes. The kernel matches the policy.");
    return withLegend(out, symbols);
  }
  const byKind = new Map<KindName, Change[]>();
  for (const c of doc.changes) byKind.set(c.kind, [...(byKind.get(c.kind) ?? []), c]);
  for (const kind of BUILD_ORDER) {
    const changes = byKind.get(kind);
    if (changes === undefined) continue;
    out.push(`${kind}:`);
    const byReason = new Map<string, Change[]>();
    for (const c of changes) byReason.set(c.reason, [...(byReason.get(c.reason) ?? []), c]);
    for (const [reason, group] of byReason) {
      out.push(`  # ${reason}`);
      for (const c of group) {
        symbols.add(symbolOf(c));
        out.push(`  ${changeLine(c)}`);
        for (const line of explain?.(c) ?? []) out.push(`        from ${line}`);
      }
    }
    out.push("");
  }
  const s = doc.summary;
  out.push(`Plan: ${s.add} to add, ${s.change} to change, ${s.destroy} to destroy.`);
  return withLegend(out, symbols);
}

function withLegend(lines: string[], symbols: ReadonlySet<string>): string {
  const legend = LEGEND.filter(([sym]) => symbols.has(sym)).map(([sym, words]) => `${sym} ${words}`);
  const head = legend.length > 0 ? [`Symbols: ${legend.join(", ")}`, ""] : [];
  return [...head, ...lines].join("\n") + "\n";
}
