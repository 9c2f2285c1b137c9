// `plan --explain`: which policy lines caused each change. An object belongs to an uplink when it lives
// in that uplink's table or rule slot, to the active path when it lives in the active table or is the
// catch-all, qdiscs, classes and filters to the qos entry of their interface (and the class they
// stand for or classify into), the NAT table and ip_forward to /hotspot/nat, and to the routing section
// otherwise; positions come from the loader's source map.
import type { PolicyRef } from "../../kinds/driver.js";
import type { KernelObject } from "../../kinds/types.js";
import { driverOf } from "../../kinds/registry.js";
import type { Layout } from "./desired.js";
import { IP_FORWARD } from "./nat.js";
import { classMinors, QOS_LINK_CLASS } from "./qos.js";
import type { Change } from "./document.js";
import { positionOf } from "../../policy/source.js";
import type { EffectivePolicy, SourceMap } from "../../policy/types.js";

export interface PolicySource {
  readonly pointer: string;
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

function uplinkIndexOf(ref: PolicyRef, layout: Layout, policy: EffectivePolicy): number | undefined {
  let name: string | undefined;
  for (const [n, slot] of layout.uplinks) {
    if (ref.table !== undefined && ref.table === slot.table) name = n;
    if (ref.priority !== undefined && ref.priority === slot.priority) name = n;
  }
  // A per-interface setting (and the flows out of an interface) belongs to the uplink on it.
  if (ref.setting !== undefined || ref.addressing || ref.flows)
    name = policy.uplinks.find((u) => u.interface === ref.iface)?.name;
  const i = policy.uplinks.findIndex((u) => u.name === name);
  return i < 0 ? undefined : i;
}

/** The qos entry (and class) behind a traffic-control object; undefined for other kinds. */
function qosPointers(ref: PolicyRef, policy: EffectivePolicy): string[] | undefined {
  if (ref.qos === undefined) return undefined;
  const { dev, classid: id } = ref.qos;
  const i = policy.qos.findIndex((q) => q.interface === dev);
  if (i < 0) return undefined;
  if (id === QOS_LINK_CLASS) return [`/qos/${i}`, `/qos/${i}/rate`];
  const name = [...classMinors(policy.qos[i]!)].find(([, m]) => `1:${m.toString(16)}` === id)?.[0];
  return name === undefined ? [`/qos/${i}`] : [`/qos/${i}`, `/qos/${i}/classes/${name}`];
}

/**
 * The hotspot settings behind an object on the hotspot's interface: for a change or a restart, those
 * whose values differ (the plan says which key caused the reload or the restart); for a start or a
 * stop, its activation and what it serves; the interface's own address, the hotspot's address.
 * Undefined for objects that are not the hotspot's.
 */
function hotspotPointers(c: Change, ref: PolicyRef, policy: EffectivePolicy): string[] | undefined {
  const h = policy.hotspot;
  if (h === undefined || ref.iface !== h.interface || policy.uplinks.some((u) => u.interface === h.interface))
    return undefined;
  if (ref.hotspot === undefined) return ["/hotspot/address"];
  const unique = (xs: readonly string[]) => [...new Set(xs.map((x) => x.split("=")[0]!))];
  const settings = (o: KernelObject | null) => (o === null ? [] : (driverOf(o).policyRef(o).hotspot ?? []));
  const [was, is] = [settings(c.before), settings(c.after)];
  const changed = [...is.filter((x) => !was.includes(x)), ...was.filter((x) => !is.includes(x))];
  if (c.before !== null && c.after !== null && changed.length > 0) return unique(changed);
  // Settings with values stand for the whole access point: its activation and interface explain it.
  const valued = ref.hotspot.some((x) => x.includes("="));
  return ["/hotspot/activate", ...(valued ? ["/hotspot/interface"] : unique(ref.hotspot))];
}

/** JSON pointers into the policy that explain one change. */
export function pointersFor(
  c: Change,
  layout: Layout,
  policy: EffectivePolicy,
  active: readonly string[],
): string[] {
  const o = (c.after ?? c.before)!;
  const ref = driverOf(o).policyRef(o);
  // The NAT table masquerades the hotspot address's subnet; forwarding exists for it.
  if (ref.nft) return ["/hotspot/nat", "/hotspot/address"];
  if (ref.setting === IP_FORWARD) return ["/hotspot/nat"];
  const qos = qosPointers(ref, policy);
  if (qos !== undefined) return qos;
  const hotspot = hotspotPointers(c, ref, policy);
  if (hotspot !== undefined) return hotspot;
  const uplink = uplinkIndexOf(ref, layout, policy);
  if (uplink !== undefined) {
    const u = policy.uplinks[uplink]!;
    if (ref.setting !== undefined) return [`/uplinks/${uplink}`, "/routing/rpFilter"];
    if (ref.addressing) return [`/uplinks/${uplink}`, `/uplinks/${uplink}/addressing`];
    // Its flows go because selection moved general traffic off it.
    if (ref.flows) return [`/uplinks/${uplink}`, "/selection/strategy"];
    // A route of the uplink's table goes via its gateway.
    const extra = ref.table !== undefined && u.gateway !== "auto" ? [`/uplinks/${uplink}/gateway`] : [];
    return [`/uplinks/${uplink}`, ...extra];
  }
  if (ref.table !== undefined && ref.table === layout.activeTable) {
    const idx = active.map((n) => policy.uplinks.findIndex((u) => u.name === n)).filter((i) => i >= 0);
    return ["/selection/strategy", ...idx.map((i) => `/uplinks/${i}`)];
  }
  if (ref.priority !== undefined && ref.priority === layout.catchAllPriority)
    return ["/routing/tables", "/routing/priorities"];
  if (ref.priority !== undefined && ref.priority === layout.localFirstPriority)
    return ["/routing/priorities"];
  if (ref.flows) return ["/selection/strategy"];
  return ["/routing"];
}

export function sourcesFor(pointers: readonly string[], sources: SourceMap): PolicySource[] {
  return pointers.flatMap((pointer) => {
    const at = positionOf(sources, pointer);
    return at === undefined ? [] : [{ pointer, file: at.file, line: at.start.line, column: at.start.column }];
  });
}
