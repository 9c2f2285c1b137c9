// What `backhaul drift` prints: the report as a versioned JSON document, or for people as a table with
// a summary. Pure.
import { DRIFT_CLASSES, type DriftReport } from "../core/drift.js";
import { columns } from "../kinds/show-text.js";
import { visible } from "./terminal.js";

const HEALTH = { assumed: "assumed", daemon: "from the running daemon", probed: "from one probe round" };

export function renderDrift(r: DriftReport): string {
  const where = r.netns === null ? "the host" : `namespace ${r.netns}`;
  const head = `Drift on ${where} against ${r.policy_file} (health ${HEALTH[r.health_source]}):`;
  if (r.drift.length === 0) return `${head}\nNo drift: the kernel holds what the policy implies.\n`;
  const order = new Map(DRIFT_CLASSES.map((c, i) => [c, i]));
  const rows = [...r.drift]
    .sort((a, b) => order.get(a.class)! - order.get(b.class)! || a.kind.localeCompare(b.kind))
    .map((d) => [d.class, d.kind, visible(d.key), visible(d.detail)]);
  const s = r.summary;
  return [
    head,
    ...columns([["CLASS", "KIND", "KEY", "DETAIL"], ...rows]),
    "",
    `Summary: ${s.missing} missing, ${s.changed} changed, ${s.extra} extra, ${s.conflict} conflict.`,
    "",
  ].join("\n");
}
