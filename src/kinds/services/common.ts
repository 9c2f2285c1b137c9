// What the service kinds share: the processes backhaul runs are observed only through the files it keeps
// for them in its state directory (effects/services.ts reads them), so whatever is seen is ours.
import { plainEqual } from "../../util/canonical.js";
import { COMMON_PARTS, type KindDriver, type RawSource } from "../driver.js";

/** A service process of ours, bound to one interface, known by its whole command line. */
export interface ServiceRecord {
  readonly kind: "hostapd" | "dnsmasq" | "dhcp-client";
  readonly iface: string;
  readonly argv: readonly string[];
}

/**
 * The driver parts every service kind has the same way; each kind adds how its ops become service
 * lines, what it observes and shows, and what it supervises.
 */
export function serviceParts<T extends ServiceRecord>(
  rank: number,
  sources: readonly RawSource[],
): Pick<
  KindDriver<T>,
  | "key"
  | "owned"
  | "sources"
  | "equal"
  | "inPlace"
  | "deletable"
  | "rank"
  | "disruption"
  | "affectsLookup"
  | "slot"
  | "policyRef"
  | "cleanup"
  | "inverse"
> {
  return {
    key: (o) => o.iface,
    owned: () => true,
    sources,
    // The same process: same interface, same command line (pid and what it serves are what it does).
    equal: (a, b) => a.iface === b.iface && plainEqual(a.argv, b.argv),
    // A service picks up a new configuration by restarting: stop, then start.
    inPlace: false,
    deletable: COMMON_PARTS.deletable,
    inverse: COMMON_PARTS.inverse,
    rank,
    disruption: (op) => (op.op === "add" ? "none" : "flap"),
    affectsLookup: () => false,
    slot: (o) => `${o.kind} ${o.iface}`,
    policyRef: (o) => ({ iface: o.iface }),
    // `run --cleanup-on-exit` stops the processes of ours.
    cleanup: "remove",
  };
}
