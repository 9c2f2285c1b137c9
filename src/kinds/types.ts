// The normalized state model: one plain, immutable record type per kind of kernel object.
// Observers produce these, compute produces them, diff compares them, the model kernel runs them.
// Canonical forms (see docs/state-model.md): prefixes are "a.b.c.d/len" or "x::/len" (never "default"),
// tables and protocols are numbers, absent optional selectors are omitted (never null).

export type Family = 4 | 6;

/** What an interface is used for, detected from sysfs (see src/kinds/link-class.ts). */
export type LinkClass = "ethernet" | "wifi" | "lte" | "usb-tether" | "bt-pan" | "other";

export interface Link {
  readonly kind: "link";
  readonly name: string;
  readonly index: number;
  readonly linkClass: LinkClass;
  /** Administratively up (IFF_UP). */
  readonly adminUp: boolean;
  /** Carrier present (IFF_LOWER_UP). */
  readonly carrier: boolean;
  /** Kernel operstate, lower-case: "up", "down", "unknown", "lowerlayerdown", ... */
  readonly operState: string;
  readonly mtu: number;
  readonly mac?: string;
  readonly driver?: string;
  /** The kernel's link type for virtual links ("veth", "bridge", "wireguard", ...), from rtnetlink. */
  readonly linkKind?: string;
}

export interface Address {
  readonly kind: "address";
  readonly family: Family;
  readonly dev: string;
  /** "10.0.0.2/24" */
  readonly local: string;
  readonly scope: RouteScope;
  /** Point-to-point peer prefix ("10.64.64.65/32"), as on ppp links. */
  readonly peer?: string;
}

export type RuleAction = "lookup" | "blackhole" | "unreachable" | "prohibit" | "goto" | "nop";

export interface Rule {
  readonly kind: "rule";
  readonly family: Family;
  readonly priority: number;
  readonly not?: boolean;
  readonly from?: string;
  readonly to?: string;
  readonly iif?: string;
  readonly oif?: string;
  readonly fwmark?: number;
  /** Only present with fwmark; omitted when it is 0xffffffff. */
  readonly fwmask?: number;
  readonly action: RuleAction;
  /** For action "lookup". */
  readonly table?: number;
  /** For action "goto". */
  readonly goto?: number;
  readonly suppressPrefixlength?: number;
  /** DS field (tos) selector. */
  readonly tos?: number;
  /** IP protocol number selector (6 tcp, 17 udp, ...). */
  readonly ipproto?: number;
  /** Port selectors: "443" or a range "1000-2000". */
  readonly sport?: string;
  readonly dport?: string;
  /** "1000-2000" */
  readonly uidrange?: string;
  readonly l3mdev?: boolean;
  readonly protocol: number;
}

export type RouteType =
  | "unicast"
  | "local"
  | "broadcast"
  | "multicast"
  | "anycast"
  | "blackhole"
  | "unreachable"
  | "prohibit"
  | "throw";

export type RouteScope = "global" | "site" | "link" | "host" | "nowhere";

export interface Nexthop {
  readonly gateway?: string;
  readonly dev: string;
  /** 1..256 as `ip route` shows it (the kernel stores weight-1). */
  readonly weight: number;
  readonly onlink?: boolean;
}

export interface Route {
  readonly kind: "route";
  readonly family: Family;
  readonly table: number;
  readonly type: RouteType;
  /** Always a prefix: default is "0.0.0.0/0" or "::/0". */
  readonly dst: string;
  readonly metric: number;
  readonly protocol: number;
  readonly scope: RouteScope;
  readonly gateway?: string;
  readonly dev?: string;
  readonly onlink?: boolean;
  readonly prefsrc?: string;
  /** Present only for multipath routes (then gateway/dev are absent). */
  readonly nexthops?: readonly Nexthop[];
}

export interface Qdisc {
  readonly kind: "qdisc";
  readonly dev: string;
  /** "1:" style, or "" when the kernel gives none. */
  readonly handle: string;
  /** "root", "ingress" or a classid "1:10". */
  readonly parent: string;
  readonly qdiscKind: string;
  readonly options: Readonly<Record<string, string | number | boolean>>;
}

export interface TcClass {
  readonly kind: "class";
  readonly dev: string;
  readonly classid: string;
  readonly parent: string;
  readonly classKind: string;
  readonly options: Readonly<Record<string, string | number | boolean>>;
}

export interface U32Match {
  /** What the 32-bit key means, when recognizable: "ip dport 22" etc. Otherwise the raw value/mask/offset. */
  readonly field: string;
  readonly value: string;
}

export interface TcFilter {
  readonly kind: "filter";
  readonly dev: string;
  readonly parent: string;
  readonly protocol: string;
  readonly pref: number;
  readonly filterKind: string;
  readonly handle?: string;
  readonly flowid?: string;
  /** u32 keys, decoded; empty for other filter kinds. */
  readonly matches: readonly U32Match[];
  /** Other scalar options, flattened with dotted keys: actions and police of u32, everything of other kinds. */
  readonly options?: Readonly<Record<string, string | number | boolean>>;
}

export interface NftTable {
  readonly kind: "nft-table";
  readonly family: "ip" | "ip6" | "inet" | "arp" | "bridge" | "netdev";
  readonly name: string;
  /** The table's chains, rules, sets in a canonical JSON form (handles dropped). */
  readonly body: string;
}

export interface Sysctl {
  readonly kind: "sysctl";
  /** Dotted name: "net.ipv4.ip_forward", "net.ipv4.conf.eth0.rp_filter". */
  readonly name: string;
  readonly value: string;
}

export interface Hostapd {
  readonly kind: "hostapd";
  readonly iface: string;
  readonly state: string;
  readonly ssid: string;
  readonly security: "open" | "wpa2" | "wpa3" | "wpa2-wpa3";
  readonly configHash: string;
}

export interface Dnsmasq {
  readonly kind: "dnsmasq";
  readonly iface: string;
  readonly pid: number;
  readonly configHash: string;
}

export interface DhcpClient {
  readonly kind: "dhcp-client";
  readonly iface: string;
  readonly pid: number;
  readonly configHash: string;
}

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
  | DhcpClient;

export type KindName = KernelObject["kind"];
export type ObjectOf<K extends KindName> = Extract<KernelObject, { kind: K }>;

export const KIND_NAMES = [
  "link",
  "address",
  "rule",
  "route",
  "qdisc",
  "class",
  "filter",
  "nft-table",
  "sysctl",
  "hostapd",
  "dnsmasq",
  "dhcp-client",
] as const satisfies readonly KindName[];

/** A whole observed or desired state: every kind, each a list sorted by its key. */
export type KernelState = { readonly [K in KindName]: readonly ObjectOf<K>[] };

export function emptyState(): KernelState {
  return {
    link: [],
    address: [],
    rule: [],
    route: [],
    qdisc: [],
    class: [],
    filter: [],
    "nft-table": [],
    sysctl: [],
    hostapd: [],
    dnsmasq: [],
    "dhcp-client": [],
  };
}

/** What marks an object as ours (from the policy's routing section). */
export interface Ownership {
  readonly protocol: number;
  readonly tables: { readonly min: number; readonly max: number };
  readonly priorities: { readonly min: number; readonly max: number };
  /** Interfaces whose root qdisc tree the policy declares. */
  readonly qosInterfaces: readonly string[];
  readonly nftTable: { readonly family: NftTable["family"]; readonly name: string };
  /** Sysctl names the policy implies. */
  readonly sysctls: readonly string[];
}

export type Op =
  | { readonly op: "add"; readonly after: KernelObject }
  | { readonly op: "change"; readonly before: KernelObject; readonly after: KernelObject }
  | { readonly op: "delete"; readonly before: KernelObject };
