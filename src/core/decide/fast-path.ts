// The carrier-loss fast path: when the kernel says the active uplink's link went away, the daemon
// plans on its last observation patched with that event instead of observing again (which costs
// several processes). The plan is the same pure computation, checked by the same invariants; the
// transaction still verifies against a fresh observation afterwards, and a full pass follows.
import { sysctlInterface } from "../../kinds/sysctl/names.js";
import type { KernelState } from "../../kinds/types.js";

/** What a kernel link event says about one link. */
export interface LinkChange {
  readonly ifname: string;
  readonly deleted: boolean;
  readonly adminUp: boolean;
  readonly carrier: boolean;
}

/** The link can no longer carry traffic. */
export const linkLost = (c: LinkChange): boolean => c.deleted || !c.adminUp || !c.carrier;

/**
 * `state` as it is after `change`: a deleted link takes its addresses and routes with it; a link set
 * administratively down keeps its addresses but the kernel flushes the routes through it (a lost
 * carrier keeps them, marked linkdown). A multipath route keeps its other nexthops.
 */
export function patchLink(state: KernelState, change: LinkChange): KernelState {
  const name = change.ifname;
  const throughIt = (r: KernelState["route"][number]): boolean =>
    r.dev === name || (r.nexthops ?? []).some((h) => h.dev === name);
  if (change.deleted) {
    // Everything on the device goes with it: addresses, routes, qdisc trees, its /proc/sys/net/*/conf/NAME.
    const onIt = (o: object): boolean => "dev" in o && o.dev === name;
    const out = Object.fromEntries(
      Object.entries(state).map(([k, objs]) => [k, (objs as readonly object[]).filter((o) => !onIt(o))]),
    ) as unknown as KernelState;
    return {
      ...out,
      link: state.link.filter((l) => l.name !== name),
      route: state.route.filter((r) => !throughIt(r)),
      sysctl: state.sysctl.filter((x) => sysctlInterface(x.name) !== name),
    };
  }
  return {
    ...state,
    link: state.link.map((l) =>
      l.name === name
        ? {
            ...l,
            adminUp: change.adminUp,
            carrier: change.carrier,
            operState: change.carrier ? l.operState : "lowerlayerdown",
          }
        : l,
    ),
    ...(change.adminUp ? {} : { route: state.route.filter((r) => r.dev !== name) }),
  };
}
