// What the policy makes backhaul's own in the kernel (see src/kinds/registry.ts for how it is used).
import { confSysctl } from "../kinds/sysctl/names.js";
import type { Ownership } from "../kinds/types.js";
import type { EffectivePolicy, Hotspot } from "./types.js";
import { formatAddress, parseInterfacePrefix } from "../util/prefix.js";

const RP_FILTER = { strict: "1", loose: "2", off: "0" } as const;

/** The sysctls the policy sets, with their values. */
export function policySysctls(p: EffectivePolicy): ReadonlyMap<string, string> {
  const out = new Map<string, string>();
  if (p.routing.rpFilter !== "unchanged") {
    for (const u of p.uplinks) {
      if (u.interface !== undefined)
        out.set(confSysctl(4, u.interface, "rp_filter"), RP_FILTER[p.routing.rpFilter]);
    }
  }
  if (p.hotspot && p.hotspot.activate !== "never" && p.hotspot.nat) out.set("net.ipv4.ip_forward", "1");
  return out;
}

/** The hotspot may run (`activate` always or when-no-uplink): its services and address are ours. */
export function hotspotPlanned(p: EffectivePolicy): p is EffectivePolicy & { hotspot: Hotspot } {
  return p.hotspot !== undefined && p.hotspot.activate !== "never";
}

/** The hotspot's address as observation writes an interface address ("100.64.50.1/24", canonical). */
export function hotspotAddress(h: Hotspot): string {
  const p = parseInterfacePrefix(h.address);
  return `${formatAddress(p.family, p.net)}/${p.len}`;
}

export function ownershipOf(p: EffectivePolicy): Ownership {
  return {
    protocol: p.routing.protocol,
    tables: { ...p.routing.tables },
    priorities: { ...p.routing.priorities },
    qosInterfaces: p.qos.map((q) => q.interface),
    nftTable: { family: "inet", name: p.routing.nftTable },
    sysctls: [...policySysctls(p).keys()].sort(),
    uplinkInterfaces: p.uplinks.flatMap((u) => (u.interface === undefined ? [] : [u.interface])),
    addresses: hotspotPlanned(p) ? [`${p.hotspot.interface} ${hotspotAddress(p.hotspot)}`] : [],
  };
}
