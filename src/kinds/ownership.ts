// What marks an object as ours, from the policy's routing section (see policy/ownership.ts).
export interface Ownership {
  readonly protocol: number;
  readonly tables: { readonly min: number; readonly max: number };
  readonly priorities: { readonly min: number; readonly max: number };
  /** Interfaces whose root qdisc tree the policy declares. */
  readonly qosInterfaces: readonly string[];
  readonly nftTable: {
    readonly family: "ip" | "ip6" | "inet" | "arp" | "bridge" | "netdev";
    readonly name: string;
  };
  /** Sysctl names the policy implies. */
  readonly sysctls: readonly string[];
  /** The uplinks' interfaces (those a `match` found included): flows NAT'ed out of them are ours to flush. */
  readonly uplinkInterfaces: readonly string[];
  /** Addresses backhaul puts on an interface ("dev local": the hotspot's while it is raised). */
  readonly addresses: readonly string[];
}
