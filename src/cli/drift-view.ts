// What `backhaul drift` prints: the report as a versioned JSON document, or for people as a table with
// a summary. Pure.
import type { DriftClass, DriftItem } from "../core/drift.js";
import { DRIFT_CLASSES, summarizeDrift } from "../core/drift.js";
import { columns } from "../kinds/show-text.js";
import { visible } from "./terminal.js";

export const DRIFT_FORMAT_VERSION = "1.0";

export interface DriftReport {
  readonly format_version: typeof DRIFT_FORMAT_VERSION;
  readonly policy_file: string;
  /** The namespace examined; null: the host. */
  readonly netns: string | null;
  readonly health_source: "assumed" | "daemon" | "probed";
  readonly summary: Record<DriftClass, number> & { readonly total: number };
  readonly drift: readonly DriftItem[];
}

export function driftReport(
  items: readonly DriftItem[],
  o: { policyFile: string; netns: string | undefined; healthSource: DriftReport["health_source"] },
): DriftReport {
  return {
    format_version: DRIFT_FORMAT_VERSION,
    policy_file: o.policyFile,
    netns: o.netns ?? null,
    health_source: o.healthSource,
    summary: summarizeDrift(items),
    drift: items,
  };
}

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
