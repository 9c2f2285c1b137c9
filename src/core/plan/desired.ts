// The owned kernel state the routing scheme implies (docs/planning.md, "Routing scheme"):
// one table per attached uplink with its default route, a source rule per attached uplink address,
// the local-first rule, the catch-all rule to the active table, the active default, and loose rp_filter.
import { confSysctl } from "../../kinds/sysctl/names.js";
import { canonicalState, keyOf } from "../../kinds/registry.js";
import {
  emptyState,
  type Address,
  type KernelObject,
  type KernelState,
  type Nexthop,
  type NftTable,
  type Route,
  type Rule,
  type Sysctl,
} from "../../kinds/types.js";
import type { QosInterface } from "../../policy/types.js";
import { dhcpClientOf, type DhcpClient } from "../../kinds/services/dhcp-client.js";
import { dnsmasqOf, type Dnsmasq, type DnsmasqParams } from "../../kinds/services/dnsmasq.js";
import { hostapdOf, type Hostapd, type HostapdParams } from "../../kinds/services/hostapd.js";
import { ipForward, natTable, type NatParams } from "./nat.js";
import { qosState } from "./qos.js";
import { hostPrefix, indexObserved, isDefault, MAIN_TABLE } from "../selection/gateway.js";
import { select, type SelectionInput } from "../selection/select.js";
import type { Attachment, Selection, UplinkSpec, UplinkVerdict } from "../selection/types.js";

/** The policy's routing section, as the scheme needs it. */
export interface RoutingParams {
  /** Route protocol number marking our routes and rules. */
  readonly protocol: number;
  readonly tables: { readonly min: number; readonly max: number };
  readonly priorities: { readonly min: number; readonly max: number };
  /** rp_filter value on uplinks (default "2", loose); "unchanged" leaves the sysctl alone. */
  readonly rpFilter?: "0" | "1" | "2" | "unchanged";
}

export type DesiredInput = Omit<SelectionInput, "observed"> & {
  readonly observed: KernelState;
  readonly routing: RoutingParams;
  /** The policy's qos section: an HTB tree per interface (see qos.ts). Absent: no shaping. */
  readonly qos?: readonly QosInterface[];
  /** The hotspot's NAT (policy hotspot with nat and activate not "never"). Absent: no NAT table, no forwarding. */
  readonly nat?: NatParams;
  /** Uplinks whose address our DHCP client takes. */
  readonly dhcp?: DhcpParams;
  /** The hotspot's services (absent: the hotspot is not raised). */
  readonly hotspot?: HotspotParams;
};

/**
 * When the hotspot is up: always; when no uplink is usable in this very selection (a one-shot plan);
 * or as the daemon's activation decided with its hold-downs.
 */
export type HotspotRaise = "always" | "when-no-uplink" | { readonly up: boolean; readonly why: string };

/** The hotspot's access point and its DHCP and DNS server, each with the directory of its files. */
export interface HotspotParams {
  readonly raise: HotspotRaise;
  /** The node's address on the hotspot, "100.64.50.1/24" (owned while the hotspot is raised). */
  readonly address: string;
  readonly dir: string;
  readonly dnsmasq: DnsmasqParams;
  readonly hostapd: { readonly dir: string; readonly params: HostapdParams };
}

/** The uplinks with `addressing: dhcp`, and the directory their clients keep files in. */
export interface DhcpParams {
  readonly dir: string;
  readonly uplinks: readonly { readonly name: string; readonly iface: string }[];
}

/** Whether the hotspot is up in this selection, and why (for the plan's reasons). */
function hotspotUp(raise: HotspotRaise, selection: Selection): { up: boolean; why: string } {
  if (raise === "always") return { up: true, why: "activate: always" };
  if (raise !== "when-no-uplink") return raise;
  const usable = selection.verdicts.filter((v) => v.usable).map((v) => v.name);
  return usable.length === 0
    ? { up: true, why: "no uplink is usable" }
    : { up: false, why: `${usable.join(", ")} usable` };
}

/** Where each uplink's table and source rule live. Stable: follows the policy's uplink order. */
export interface Layout {
  readonly activeTable: number;
  readonly localFirstPriority: number;
  readonly catchAllPriority: number;
  readonly uplinks: ReadonlyMap<string, { readonly table: number; readonly priority: number }>;
}

export interface Desired {
  readonly state: KernelState;
  readonly selection: Selection;
  readonly layout: Layout;
  /** Why each desired object exists, by objectId. */
  readonly reasons: ReadonlyMap<string, string>;
}

export class PlanningError extends Error {
  override name = "PlanningError";
}

/** "kind key": identity of an object across kinds. */
export const objectId = (o: KernelObject): string => `${o.kind} ${keyOf(o)}`;

/** Metric the kernel gives a route added without one: 0 for IPv4, 1024 for IPv6. We always write it explicitly. */
export const defaultMetric = (family: 4 | 6): number => (family === 4 ? 0 : 1024);
const defaultDst = (family: 4 | 6): string => (family === 4 ? "0.0.0.0/0" : "::/0");

export function layoutFor(uplinks: readonly UplinkSpec[], r: RoutingParams): Layout {
  const { tables, priorities } = r;
  if (tables.min > tables.max || priorities.min > priorities.max)
    throw new PlanningError("routing: a table or priority range has min above max");
  const activeTable = tables.min;
  const map = new Map<string, { table: number; priority: number }>();
  const usedTables = new Map<number, string>([[activeTable, "the active table"]]);
  const ifaces = new Map<string, string>();
  uplinks.forEach((u, i) => {
    const other = ifaces.get(u.iface);
    if (other !== undefined)
      throw new PlanningError(`routing: uplinks ${other} and ${u.name} share interface ${u.iface}`);
    ifaces.set(u.iface, u.name);
    const table = u.table ?? tables.min + 1 + i;
    if (table < tables.min || table > tables.max)
      throw new PlanningError(
        `routing: uplink ${u.name} needs table ${table}, outside the table range ${tables.min}-${tables.max} ` +
          `(the range needs one table per uplink plus the active table)`,
      );
    const clash = usedTables.get(table);
    if (clash !== undefined)
      throw new PlanningError(`routing: uplink ${u.name} and ${clash} both use table ${table}`);
    usedTables.set(table, `uplink ${u.name}`);
    map.set(u.name, { table, priority: priorities.min + 1 + i });
  });
  const catchAllPriority = priorities.max;
  if (priorities.min + uplinks.length + 1 > catchAllPriority)
    throw new PlanningError(
      `routing: the priority range ${priorities.min}-${priorities.max} is too small for ${uplinks.length} uplinks ` +
        `(needs ${uplinks.length + 2} priorities)`,
    );
  return { activeTable, localFirstPriority: priorities.min, catchAllPriority, uplinks: map };
}

/** rp_filter sysctl name for an interface (dots in interface names become "/", as sysctl(8) writes them). */
export const rpFilterName = (iface: string): string => confSysctl(4, iface, "rp_filter");

/** Sysctl names the scheme owns: the lead adds them to Ownership.sysctls. */
export function schemeSysctls(uplinks: readonly UplinkSpec[], r?: Pick<RoutingParams, "rpFilter">): string[] {
  if (r?.rpFilter === "unchanged") return [];
  return uplinks.filter((u) => u.use !== "never").map((u) => rpFilterName(u.iface));
}

function familiesOf(input: DesiredInput): readonly (4 | 6)[] {
  if (!input.families.includes(4)) throw new PlanningError("routing: IPv4 must be among the routed families");
  return input.families;
}

export function computeDesired(input: DesiredInput): Desired {
  const families = familiesOf(input);
  const layout = layoutFor(input.uplinks, input.routing);
  const ix = indexObserved(input.observed);
  const selection = select({ ...input, observed: ix });
  const protocol = input.routing.protocol;
  const reasons = new Map<string, string>();
  const rules: Rule[] = [];
  const routes: Route[] = [];
  const sysctls: Sysctl[] = [];
  const put = <T extends KernelObject>(list: T[], o: T, reason: string): void => {
    list.push(o);
    reasons.set(objectId(o), reason);
  };
  const verdicts = new Map(selection.verdicts.map((v) => [v.name, v]));
  const specs = new Map(input.uplinks.map((u) => [u.name, u]));

  for (const family of families) {
    put(
      rules,
      {
        kind: "rule",
        family,
        priority: layout.localFirstPriority,
        action: "lookup",
        table: MAIN_TABLE,
        suppressPrefixlength: 0,
        protocol,
      },
      "local first: the main table's specific routes (LAN, hotspot) win over uplink defaults",
    );
    put(
      rules,
      {
        kind: "rule",
        family,
        priority: layout.catchAllPriority,
        action: "lookup",
        table: layout.activeTable,
        protocol,
      },
      `general traffic follows the active table ${layout.activeTable}`,
    );
  }

  for (const spec of input.uplinks) {
    const v = verdicts.get(spec.name)!;
    const slot = layout.uplinks.get(spec.name)!;
    for (const a of v.attachments) {
      const how = `${a.gateway} (${a.gatewaySource}${a.onlink ? ", on-link: outside the interface's prefixes" : ""})`;
      put(
        routes,
        uplinkDefault(a, spec.iface, slot.table, protocol),
        `uplink ${spec.name}: default via ${how} in its table ${slot.table}`,
      );
      put(
        rules,
        {
          kind: "rule",
          family: a.family,
          priority: slot.priority,
          from: hostPrefix(a.address),
          action: "lookup",
          table: slot.table,
          protocol,
        },
        `uplink ${spec.name}: traffic from ${a.address.split("/")[0]} leaves by ${spec.iface}, whatever is active`,
      );
    }
    const rp = input.routing.rpFilter ?? "2";
    if (spec.use !== "never" && rp !== "unchanged" && ix.links.has(spec.iface))
      put(
        sysctls,
        { kind: "sysctl", name: rpFilterName(spec.iface), value: rp },
        rp === "2"
          ? `uplink ${spec.name}: loose reverse-path filter, so replies via a non-default uplink are accepted`
          : `uplink ${spec.name}: reverse-path filter ${rp} as the policy says`,
      );
  }

  const prevActive = input.previous?.active.map((a) => a.name) ?? [];
  const nowActive = selection.active.map((a) => a.name);
  const activeReason =
    selection.switched && prevActive.length > 0
      ? `switching active uplink ${prevActive.join("+")} → ${nowActive.length > 0 ? nowActive.join("+") : "none"}: ${selection.why}`
      : selection.reason;
  for (const family of families) {
    const r = activeDefault(family, selection, verdicts, specs, layout, protocol);
    if (r !== undefined) put(routes, r, activeReason);
    else if (selection.noneUsable === "keep-last")
      for (const kept of input.observed.route)
        if (
          kept.table === layout.activeTable &&
          kept.protocol === protocol &&
          kept.family === family &&
          isDefault(kept.dst)
        )
          put(routes, kept, activeReason);
  }

  // Like rp_filter, shaping waits for its interface: the tree is planned once the link exists.
  const qos = qosState((input.qos ?? []).filter((q) => ix.links.has(q.interface)));
  for (const [id, why] of qos.reasons) reasons.set(id, why);
  // A client runs while its interface exists: a tether plugged in later gets one at the next pass.
  const dhcpClients: DhcpClient[] = [];
  for (const u of input.dhcp?.uplinks ?? [])
    if (ix.links.has(u.iface))
      put(
        dhcpClients,
        dhcpClientOf(input.dhcp!.dir, u.iface),
        `uplink ${u.name}: addressing dhcp, its address and gateway come from the lease`,
      );
  // Flows NAT'ed out of an uplink that carries general traffic stay; those of any other uplink of ours
  // are dead after a switch and go (after the new routes: see the kind's rank). Traffic makes them, so
  // the desired ones are simply the observed ones that may stay. A family with no active default is not
  // routed by us (general traffic falls through to the main table): its flows are left alone.
  const actives = routes.filter((r) => r.table === layout.activeTable && isDefault(r.dst));
  const carrying = new Set(
    actives.flatMap((r) =>
      [...(r.dev === undefined ? [] : [r.dev]), ...(r.nexthops ?? []).map((h) => h.dev)].map(
        (d) => `${r.family} ${d}`,
      ),
    ),
  );
  const routed = new Set(actives.map((r) => r.family));
  const flows = input.observed.conntrack.filter(
    (f) => !routed.has(f.family) || carrying.has(`${f.family} ${f.iface}`),
  );
  // The hotspot's access point and server run while it is raised and its interface exists
  // (--bind-dynamic picks the address up later); NAT serves it while it is up.
  const servers: Dnsmasq[] = [];
  const accessPoints: Hostapd[] = [];
  const addresses: Address[] = [];
  const hs = input.hotspot;
  const raised = hs === undefined ? undefined : hotspotUp(hs.raise, selection);
  if (hs !== undefined && raised !== undefined && ix.links.has(hs.dnsmasq.iface)) {
    const iface = hs.dnsmasq.iface;
    const mine: Address = { kind: "address", family: 4, dev: iface, local: hs.address, scope: "global" };
    const present = input.observed.address.some((a) => a.dev === iface && a.local === hs.address);
    // Lowered, the address stays where it is: it may have been there before the hotspot was.
    if (raised.up || present)
      put(
        addresses,
        mine,
        raised.up
          ? `hotspot (${raised.why}): the node's address on ${iface}, its clients' router and DNS server`
          : `hotspot down (${raised.why}): its address stays on ${iface}`,
      );
    if (raised.up) {
      const p = hs.hostapd.params;
      put(
        accessPoints,
        hostapdOf(hs.hostapd.dir, p),
        `hotspot (${raised.why}): access point ${JSON.stringify(p.ssid)} (${p.security}) on ${p.iface}` +
          (p.security === "open"
            ? ""
            : p.passphraseFile === undefined
              ? ", passphrase generated by backhaul"
              : `, passphrase from ${p.passphraseFile}`),
      );
      put(
        servers,
        dnsmasqOf(hs.dir, hs.dnsmasq),
        `hotspot (${raised.why}): DHCP ${hs.dnsmasq.start}-${hs.dnsmasq.end} and DNS for its clients on ${iface}`,
      );
    }
  }
  const nftTables: NftTable[] = [];
  if (input.nat !== undefined && (raised === undefined || raised.up)) {
    // Unresolved uplinks (a `match` that found nothing) have no interface to masquerade out of.
    const out = input.uplinks.map((u) => u.iface).filter((i) => !i.startsWith("match:"));
    const t = natTable(input.nat, out);
    nftTables.push(t);
    reasons.set(
      objectId(t),
      `hotspot NAT: traffic from ${input.nat.address} is masqueraded out of each uplink`,
    );
    put(sysctls, ipForward, "hotspot NAT: the node forwards the hotspot's traffic to the uplinks");
  }
  const state: KernelState = canonicalState({
    ...emptyState(),
    rule: rules,
    route: routes,
    sysctl: sysctls,
    qdisc: qos.qdiscs,
    class: qos.classes,
    filter: qos.filters,
    "nft-table": nftTables,
    "dhcp-client": dhcpClients,
    dnsmasq: servers,
    hostapd: accessPoints,
    address: addresses,
    conntrack: flows,
  });
  return { state, selection, layout, reasons };
}

function uplinkDefault(a: Attachment, iface: string, table: number, protocol: number): Route {
  return {
    kind: "route",
    family: a.family,
    table,
    type: "unicast",
    dst: defaultDst(a.family),
    metric: defaultMetric(a.family),
    protocol,
    scope: "global",
    gateway: a.gateway,
    dev: iface,
    ...(a.onlink ? { onlink: true } : {}),
  };
}

/** The active table's default in one family: the chosen uplink (failover) or weighted nexthops (balance). */
function activeDefault(
  family: 4 | 6,
  selection: Selection,
  verdicts: ReadonlyMap<string, UplinkVerdict>,
  specs: ReadonlyMap<string, UplinkSpec>,
  layout: Layout,
  protocol: number,
): Route | undefined {
  const withFamily = (name: string): Attachment | undefined =>
    verdicts.get(name)?.attachments.find((a) => a.family === family);
  let paths: { a: Attachment; iface: string; weight: number }[];
  if (selection.strategy === "failover") {
    // IPv6 follows the IPv4 choice; when the chosen uplink has no IPv6 path, the next usable one that has.
    const name = selection.ranked.find((n) => withFamily(n) !== undefined);
    paths = name === undefined ? [] : [{ a: withFamily(name)!, iface: specs.get(name)!.iface, weight: 1 }];
  } else {
    paths = selection.active
      .filter((x) => withFamily(x.name) !== undefined)
      .map((x) => ({ a: withFamily(x.name)!, iface: specs.get(x.name)!.iface, weight: x.weight }));
  }
  if (paths.length === 0) return undefined;
  if (paths.length === 1) return uplinkDefault(paths[0]!.a, paths[0]!.iface, layout.activeTable, protocol);
  const nexthops: Nexthop[] = paths
    .map((p) => ({
      gateway: p.a.gateway,
      dev: p.iface,
      weight: p.weight,
      ...(p.a.onlink ? { onlink: true } : {}),
    }))
    .sort((x, y) => (x.dev < y.dev ? -1 : x.dev > y.dev ? 1 : 0));
  return {
    kind: "route",
    family,
    table: layout.activeTable,
    type: "unicast",
    dst: defaultDst(family),
    metric: defaultMetric(family),
    protocol,
    scope: "global",
    nexthops,
  };
}
