// What the service kinds share: the processes backhaul runs are observed only through the files it keeps
// for them in its state directory (effects/services.ts reads them), so whatever is seen is ours.
import { COMMON_PARTS, RenderError, type KindDriver, type OpOn, type RawSource } from "../driver.js";

/** A service process of ours, bound to one interface. */
export interface ServiceRecord {
  readonly kind: "hostapd" | "dnsmasq" | "dhcp-client";
  readonly iface: string;
}

/**
 * The driver parts every service kind has the same way. A kind backhaul only observes so far (hostapd)
 * keeps the refusing renderer; a kind it runs overrides command and cleanup.
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
  | "command"
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
    equal: COMMON_PARTS.equal,
    // A service picks up a new configuration by restarting: stop, then start.
    inPlace: false,
    deletable: COMMON_PARTS.deletable,
    inverse: COMMON_PARTS.inverse,
    rank,
    command: {
      tool: "ip",
      render(op: OpOn<T>): never {
        const o = op.op === "delete" ? op.before : op.after;
        throw new RenderError(`backhaul observes ${o.kind} on ${o.iface} but does not start or stop it`);
      },
    },
    disruption: (op) => (op.op === "add" ? "none" : "flap"),
    affectsLookup: () => false,
    slot: (o) => `${o.kind} ${o.iface}`,
    policyRef: (o) => ({ iface: o.iface }),
    // Left running: the services issue makes them ours to stop.
    cleanup: "keep",
  };
}
