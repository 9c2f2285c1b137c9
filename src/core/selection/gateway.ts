// Where an uplink's traffic goes: its address and gateway per family, found in the observed kernel.
// For `gateway: auto` a DHCP client has installed `default via GW dev IFACE` in the main table, or our
// own client holds a lease; an uplink without address or gateway has no path, and the reason says why.
import ipaddr from "ipaddr.js";
import type { Address, KernelState, Link, Route } from "../../kinds/types.js";
import type { Attachment, UplinkSpec } from "./types.js";

export const MAIN_TABLE = 254;

export type AttachResult =
  { readonly ok: true; readonly attachment: Attachment } | { readonly ok: false; readonly reason: string };

/** Indexes of the observed state that discovery reads, built once per pass (O(n)). */
export interface ObservedIndex {
  readonly links: ReadonlyMap<string, Link>;
  readonly addresses: ReadonlyMap<string, readonly Address[]>;
  /** Main-table unicast default routes by device, lowest metric first. */
  readonly mainDefaults: ReadonlyMap<string, readonly { gateway: string; family: 4 | 6; metric: number }[]>;
  /** The router of the lease our DHCP client holds, by interface (IPv4). */
  readonly leaseRouters: ReadonlyMap<string, string>;
}

// States are immutable: an index, and the attachments found in it, hold for as long as the state lives.
// The daemon selects again on every probe round on the same observation, and parsing addresses for
// each round was most of what a round cost.
const indexes = new WeakMap<KernelState, ObservedIndex>();
const attachments = new WeakMap<ObservedIndex, Map<string, AttachResult>>();

/** The state's index (made once per state). */
export function indexObserved(s: KernelState): ObservedIndex {
  const known = indexes.get(s);
  if (known !== undefined) return known;
  const ix = buildIndex(s);
  indexes.set(s, ix);
  return ix;
}

function buildIndex(s: KernelState): ObservedIndex {
  const links = new Map(s.link.map((l) => [l.name, l]));
  const addresses = new Map<string, Address[]>();
  for (const a of s.address) {
    const list = addresses.get(a.dev) ?? [];
    list.push(a);
    addresses.set(a.dev, list);
  }
  for (const list of addresses.values())
    list.sort((a, b) => (a.local < b.local ? -1 : a.local > b.local ? 1 : 0));
  const mainDefaults = new Map<string, { gateway: string; family: 4 | 6; metric: number }[]>();
  const push = (dev: string, gateway: string, r: Route): void => {
    const list = mainDefaults.get(dev) ?? [];
    list.push({ gateway, family: r.family, metric: r.metric });
    mainDefaults.set(dev, list);
  };
  for (const r of s.route) {
    if (r.table !== MAIN_TABLE || r.type !== "unicast" || !isDefault(r.dst)) continue;
    if (r.gateway !== undefined && r.dev !== undefined) push(r.dev, r.gateway, r);
    for (const nh of r.nexthops ?? []) if (nh.gateway !== undefined) push(nh.dev, nh.gateway, r);
  }
  for (const list of mainDefaults.values())
    list.sort((a, b) => a.metric - b.metric || (a.gateway < b.gateway ? -1 : a.gateway > b.gateway ? 1 : 0));
  const leaseRouters = new Map<string, string>();
  for (const c of s["dhcp-client"])
    if (c.lease?.router !== undefined) leaseRouters.set(c.iface, c.lease.router);
  return { links, addresses, mainDefaults, leaseRouters };
}

export const isDefault = (dst: string): boolean => dst === "0.0.0.0/0" || dst === "::/0";

/** Why a link cannot carry traffic, or undefined when it can. */
export function linkProblem(iface: string, ix: ObservedIndex): string | undefined {
  const link = ix.links.get(iface);
  if (link === undefined) return `interface ${iface} not present`;
  if (!link.adminUp) return `interface ${iface} administratively down`;
  if (!link.carrier) return "carrier lost";
  return undefined;
}

/** The uplink's address and gateway in one family (link state is checked by the caller). */
export function attach(spec: UplinkSpec, family: 4 | 6, ix: ObservedIndex): AttachResult {
  let memo = attachments.get(ix);
  if (memo === undefined) attachments.set(ix, (memo = new Map()));
  // Everything of the spec that attaching reads.
  const key = `${family} ${spec.iface} ${spec.gateway} ${spec.gateway6 ?? ""}`;
  const known = memo.get(key);
  if (known !== undefined) return known;
  const r = attachIn(spec, family, ix);
  memo.set(key, r);
  return r;
}

function attachIn(spec: UplinkSpec, family: 4 | 6, ix: ObservedIndex): AttachResult {
  const fam = family === 4 ? "IPv4" : "IPv6";
  const address = (ix.addresses.get(spec.iface) ?? []).find(
    (a) => a.family === family && a.scope === "global",
  );
  if (address === undefined) return { ok: false, reason: `no global ${fam} address on ${spec.iface}` };

  const configured = family === 4 ? spec.gateway : (spec.gateway6 ?? "auto");
  let gateway: string | undefined;
  let gatewaySource: Attachment["gatewaySource"];
  if (configured !== "auto") {
    gateway = configured;
    gatewaySource = "policy";
  } else {
    gateway = ix.mainDefaults.get(spec.iface)?.find((d) => d.family === family)?.gateway;
    gatewaySource = "main table";
    if (gateway === undefined) {
      gateway = family === 4 ? ix.leaseRouters.get(spec.iface) : undefined;
      gatewaySource = "DHCP lease";
    }
  }
  if (gateway === undefined)
    return {
      ok: false,
      reason: `no ${fam} gateway: no default route via ${spec.iface} in the main table and no DHCP lease`,
    };
  if (!ipaddr.isValid(gateway) || ipaddr.parse(gateway).kind() !== (family === 4 ? "ipv4" : "ipv6"))
    return { ok: false, reason: `${fam} gateway ${gateway} is not an ${fam} address` };

  const onlink = needsOnlink(gateway, ix.addresses.get(spec.iface) ?? []);
  return {
    ok: true,
    attachment: { family, address: address.local, gateway: normalizeAddress(gateway), onlink, gatewaySource },
  };
}

/** True when the gateway lies outside every connected prefix of the interface (IPv6 link-local never needs it). */
export function needsOnlink(gateway: string, addresses: readonly Address[]): boolean {
  const gw = ipaddr.parse(gateway);
  if (gw.kind() === "ipv6" && (gw as ipaddr.IPv6).range() === "linkLocal") return false;
  for (const a of addresses) {
    const [net, len] = ipaddr.parseCIDR(a.local);
    if (net.kind() === gw.kind() && gw.match([net, len])) return false;
  }
  return true;
}

function normalizeAddress(a: string): string {
  return ipaddr.parse(a).toString();
}

/** "198.51.100.2/24" → "198.51.100.2/32": the host prefix of an interface address, as rules carry it. */
export function hostPrefix(cidr: string): string {
  const [addr] = ipaddr.parseCIDR(cidr);
  return `${addr.toString()}/${addr.kind() === "ipv4" ? 32 : 128}`;
}
