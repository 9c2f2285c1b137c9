// Why an op is in the plan, in words: from the reasons compute gave each desired object, and for
// deletes from the layout (which uplink owned that table or priority) and the selection's verdicts.
import type { PolicyRef } from "../../kinds/driver.js";
import { driverOf } from "../../kinds/registry.js";
import type { KernelObject, Op } from "../../kinds/types.js";
import { objectId, type Desired } from "./desired.js";

function ownerOf(ref: PolicyRef, d: Desired): string | undefined {
  for (const [name, slot] of d.layout.uplinks) {
    if (ref.table !== undefined && ref.table === slot.table) return name;
    if (
      (ref.priority !== undefined && ref.priority === slot.priority) ||
      (ref.lookup !== undefined && ref.lookup === slot.table)
    )
      return name;
  }
  return undefined;
}

function deleteReason(o: KernelObject, d: Desired): string {
  const ref = driverOf(o).policyRef(o);
  if (ref.table !== undefined && ref.table === d.layout.activeTable) return d.selection.reason;
  const owner = ownerOf(ref, d);
  if (owner !== undefined) {
    const v = d.selection.verdicts.find((x) => x.name === owner);
    if (v !== undefined && !v.attached) return `uplink ${owner} has no path: ${v.reason}`;
    if (v !== undefined) return `uplink ${owner}: superseded (its address or gateway changed)`;
  }
  if (ref.flows && ref.iface !== undefined)
    return `general traffic no longer leaves by ${ref.iface} (${d.selection.reason}): its NAT'ed flows are cut so their clients reconnect by the new uplink`;
  if (ref.routing) return "not part of the routing scheme of the current policy";
  return "no longer desired by the policy";
}

/** A reason function for document.ts, from what compute decided. */
export function reasonsFrom(d: Desired): (op: Op) => string {
  return (op) =>
    op.op === "delete"
      ? deleteReason(op.before, d)
      : (d.reasons.get(objectId(op.after)) ?? "desired by the policy");
}
