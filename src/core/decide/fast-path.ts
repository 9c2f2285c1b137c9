// The carrier-loss fast path: when the kernel says the active uplink's link went away, the daemon
// plans on its last observation patched with that event instead of observing again (which costs
// several processes). The plan is the same pure computation, checked by the same invariants; the
// transaction still verifies against a fresh observation afterwards, and a full pass follows.
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

/** `state` as it is after `change`: a deleted link takes its addresses and routes with it. */
export function patchLink(state: KernelState, change: LinkChange): KernelState {
  const name = change.ifname;
  if (change.deleted)
    return {
      ...state,
      link: state.link.filter((l) => l.name !== name),
      address: state.address.filter((a) => a.dev !== name),
      route: state.route.filter((r) => r.dev !== name && !(r.nexthops ?? []).some((h) => h.dev === name)),
    };
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
  };
}
