import type { Rule } from "../types.js";

/**
 * A rule every packet matches that sends it to a table: where general traffic goes. Any selector
 * (source, destination, interfaces, mark, tos, protocol, ports, uid range, l3mdev, suppression)
 * makes it something narrower.
 */
export function isCatchAll(r: Rule): boolean {
  return (
    r.action === "lookup" &&
    !r.not &&
    r.from === undefined &&
    r.to === undefined &&
    r.iif === undefined &&
    r.oif === undefined &&
    r.fwmark === undefined &&
    r.tos === undefined &&
    r.ipproto === undefined &&
    r.sport === undefined &&
    r.dport === undefined &&
    r.uidrange === undefined &&
    !r.l3mdev &&
    r.suppressPrefixlength === undefined
  );
}
