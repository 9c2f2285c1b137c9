// What the policy makes backhaul's own in the kernel (see src/kinds/registry.ts for how it is used).
import { confSysctl } from "../kinds/sysctl/names.js";
import type { Ownership } from "../kinds/types.js";
import type { EffectivePolicy } from "./types.js";

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

export function ownershipOf(p: EffectivePolicy): Ownership {
  return {
    protocol: p.routing.protocol,
    tables: { ...p.routing.tables },
    priorities: { ...p.routing.priorities },
    qosInterfaces: p.qos.map((q) => q.interface),
    nftTable: { family: "inet", name: p.routing.nftTable },
    sysctls: [...policySysctls(p).keys()].sort(),
    uplinkInterfaces: p.uplinks.flatMap((u) => (u.interface === undefined ? [] : [u.interface])),
  };
}
