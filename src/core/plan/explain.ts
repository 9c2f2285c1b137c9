// `plan --explain`: which policy lines caused each change. An object belongs to an uplink when it lives
// in that uplink's table or rule slot, to the active path when it lives in the active table or is the
// catch-all, qdiscs, classes and filters to the qos entry of their interface (and the class they
// stand for or classify into), the NAT table and ip_forward to /hotspot/nat, and to the routing section
// otherwise; positions come from the loader's source map.
import { sysctlInterface } from "../../kinds/sysctl/names.js";
import type { KernelObject } from "../../kinds/types.js";
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

function uplinkIndexOf(o: KernelObject, layout: Layout, policy: EffectivePolicy): number | undefined {
  let name: string | undefined;
  for (const [n, slot] of layout.uplinks) {
    if (o.kind === "route" && o.table === slot.table) name = n;
    if (o.kind === "rule" && o.priority === slot.priority) name = n;
  }
  if (o.kind === "sysctl") {
    const iface = sysctlInterface(o.name);
    name = policy.uplinks.find((u) => u.interface === iface)?.name;
  }
  const i = policy.uplinks.findIndex((u) => u.name === name);
  return i < 0 ? undefined : i;
}

/** The qos entry (and class) behind a qdisc, class or filter; undefined for other kinds. */
function qosPointers(o: KernelObject, policy: EffectivePolicy): string[] | undefined {
  if (o.kind !== "qdisc" && o.kind !== "class" && o.kind !== "filter") return undefined;
  const i = policy.qos.findIndex((q) => q.interface === o.dev);
  if (i < 0) return undefined;
  const id = o.kind === "class" ? o.classid : o.kind === "filter" ? o.flowid : undefined;
  if (id === QOS_LINK_CLASS) return [`/qos/${i}`, `/qos/${i}/rate`];
  const name = [...classMinors(policy.qos[i]!)].find(([, m]) => `1:${m.toString(16)}` === id)?.[0];
  return name === undefined ? [`/qos/${i}`] : [`/qos/${i}`, `/qos/${i}/classes/${name}`];
}

/** JSON pointers into the policy that explain one change. */
export function pointersFor(
  c: Change,
  layout: Layout,
  policy: EffectivePolicy,
  active: readonly string[],
): string[] {
  const o = (c.after ?? c.before)!;
  // The NAT table masquerades the hotspot address's subnet; forwarding exists for it.
  if (o.kind === "nft-table") return ["/hotspot/nat", "/hotspot/address"];
  if (o.kind === "sysctl" && o.name === IP_FORWARD) return ["/hotspot/nat"];
  const qos = qosPointers(o, policy);
  if (qos !== undefined) return qos;
  const uplink = uplinkIndexOf(o, layout, policy);
  if (uplink !== undefined) {
    const u = policy.uplinks[uplink]!;
    const extra = o.kind === "route" && u.gateway !== "auto" ? [`/uplinks/${uplink}/gateway`] : [];
    return o.kind === "sysctl"
      ? [`/uplinks/${uplink}`, "/routing/rpFilter"]
      : [`/uplinks/${uplink}`, ...extra];
  }
  if (o.kind === "route" && o.table === layout.activeTable) {
    const idx = active.map((n) => policy.uplinks.findIndex((u) => u.name === n)).filter((i) => i >= 0);
    return ["/selection/strategy", ...idx.map((i) => `/uplinks/${i}`)];
  }
  if (o.kind === "rule" && o.priority === layout.catchAllPriority)
    return ["/routing/tables", "/routing/priorities"];
  if (o.kind === "rule" && o.priority === layout.localFirstPriority) return ["/routing/priorities"];
  return ["/routing"];
}

export function sourcesFor(pointers: readonly string[], sources: SourceMap): PolicySource[] {
  return pointers.flatMap((pointer) => {
    const at = positionOf(sources, pointer);
    return at === undefined ? [] : [{ pointer, file: at.file, line: at.start.line, column: at.start.column }];
  });
}
