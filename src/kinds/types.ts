// The normalized state model: one plain, immutable record type per kind of kernel object, each defined
// with its driver (one file per kind under kinds/), gathered here for the rest of the code.
// Canonical forms (see docs/state-model.md): prefixes are "a.b.c.d/len" or "x::/len" (never "default"),
// tables and protocols are numbers, absent optional selectors are omitted (never null).
import type { NatFlows } from "./conntrack/nat-flows.js";
import type { Address } from "./ip/address.js";
import type { Link } from "./ip/link.js";
import type { Route } from "./ip/route.js";
import type { Rule } from "./ip/rule.js";
import type { NftTable } from "./nft/table.js";
import type { DhcpClient } from "./services/dhcp-client.js";
import type { Dnsmasq } from "./services/dnsmasq.js";
import type { Hostapd } from "./services/hostapd.js";
import type { Sysctl } from "./sysctl/sysctl.js";
import type { TcClass } from "./tc/class.js";
import type { TcFilter } from "./tc/filter.js";
import type { Qdisc } from "./tc/qdisc.js";

export type { Family } from "./driver.js";
export type { LinkClass } from "./link-class.js";
export type { Link } from "./ip/link.js";
export type { Address } from "./ip/address.js";
export type { Rule, RuleAction } from "./ip/rule.js";
export type { Route, Nexthop } from "./ip/route.js";
export type { RouteScope, RouteType } from "./ip/names.js";
export type { Qdisc } from "./tc/qdisc.js";
export type { TcClass } from "./tc/class.js";
export type { TcFilter } from "./tc/filter.js";
export type { U32Match } from "./tc/u32.js";
export type { NftTable } from "./nft/table.js";
export type { Sysctl } from "./sysctl/sysctl.js";
export type { Hostapd } from "./services/hostapd.js";
export type { Dnsmasq } from "./services/dnsmasq.js";
export type { DhcpClient } from "./services/dhcp-client.js";
export type { NatFlows } from "./conntrack/nat-flows.js";
export type { Ownership } from "./ownership.js";
export { KIND_NAMES, emptyState } from "./registry.js";

/** Every kind's record; the registry (registry.ts) holds one driver for each, or does not compile. */
export type KernelObject =
  | Link
  | Address
  | Rule
  | Route
  | Qdisc
  | TcClass
  | TcFilter
  | NftTable
  | Sysctl
  | Hostapd
  | Dnsmasq
  | DhcpClient
  | NatFlows;

export type KindName = KernelObject["kind"];
export type ObjectOf<K extends KindName> = Extract<KernelObject, { kind: K }>;

/** A whole observed or desired state: every kind, each a list sorted by its key. */
export type KernelState = { readonly [K in KindName]: readonly ObjectOf<K>[] };

export type Op =
  | { readonly op: "add"; readonly after: KernelObject }
  | { readonly op: "change"; readonly before: KernelObject; readonly after: KernelObject }
  | { readonly op: "delete"; readonly before: KernelObject };
