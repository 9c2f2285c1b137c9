// A small route lookup for tests that need a routeFor callback: rule priorities, `to` selectors,
// lookup with suppress_prefixlength, longest prefix match. Locally generated traffic has no source yet,
// so `from` rules do not match. The model kernel (src/core/model-kernel) replaces this in the product.
import ipaddr from "ipaddr.js";
import type { KernelState, Route, Rule } from "../../src/kinds/types.js";
import { keyOf } from "../../src/kinds/registry.js";

const inPrefix = (dst: ipaddr.IPv4 | ipaddr.IPv6, prefix: string): boolean => {
  const [net, len] = ipaddr.parseCIDR(prefix);
  return net.kind() === dst.kind() && dst.match([net, len]);
};

export function lookupRoute(state: KernelState, dst: string): Route | undefined {
  const addr = ipaddr.parse(dst);
  const family = addr.kind() === "ipv4" ? 4 : 6;
  const rules: Rule[] = state.rule.filter((r) => r.family === family);
  if (!rules.some((r) => r.priority === 32766))
    rules.push({ kind: "rule", family, priority: 32766, action: "lookup", table: 254, protocol: 2 });
  // The kernel keeps rules of equal priority in insertion order, which a KernelState does not record;
  // a fixed tie-break (by key) keeps this lookup independent of list order.
  rules.sort((a, b) => a.priority - b.priority || (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0));
  for (const r of rules) {
    if (r.from !== undefined || r.iif !== undefined || r.oif !== undefined || r.fwmark !== undefined)
      continue;
    if (r.to !== undefined && !inPrefix(addr, r.to)) continue;
    if (r.action !== "lookup") continue;
    let best: Route | undefined;
    for (const rt of state.route) {
      if (rt.family !== family || rt.table !== r.table || !inPrefix(addr, rt.dst)) continue;
      const len = Number(rt.dst.split("/")[1]);
      if (
        best === undefined ||
        len > Number(best.dst.split("/")[1]) ||
        (len === Number(best.dst.split("/")[1]) && rt.metric < best.metric)
      )
        best = rt;
    }
    if (best === undefined) continue;
    if (r.suppressPrefixlength !== undefined && Number(best.dst.split("/")[1]) <= r.suppressPrefixlength)
      continue;
    return best;
  }
  return undefined;
}
