// One line per kernel object, in the words of the tool that manages it (ip, tc, sysctl), for people.
import type { KernelObject, Nexthop, Route, Rule } from "../model/types.js";

const fam = (f: 4 | 6): string => (f === 6 ? "-6 " : "");

function nexthop(n: Nexthop): string {
  return `nexthop${n.gateway === undefined ? "" : ` via ${n.gateway}`} dev ${n.dev} weight ${n.weight}${n.onlink ? " onlink" : ""}`;
}

function route(r: Route): string {
  const dst = r.dst === "0.0.0.0/0" || r.dst === "::/0" ? "default" : r.dst;
  const type = r.type === "unicast" ? "" : `${r.type} `;
  const path =
    r.nexthops !== undefined
      ? ` ${r.nexthops.map(nexthop).join(" ")}`
      : `${r.gateway === undefined ? "" : ` via ${r.gateway}`}${r.dev === undefined ? "" : ` dev ${r.dev}`}${r.onlink ? " onlink" : ""}`;
  return `${fam(r.family)}${type}${dst}${path} table ${r.table} metric ${r.metric} proto ${r.protocol}`;
}

function rule(r: Rule): string {
  const parts = [`${fam(r.family)}${r.priority}:`];
  if (r.not) parts.push("not");
  parts.push(`from ${r.from ?? "all"}`);
  if (r.to !== undefined) parts.push(`to ${r.to}`);
  if (r.iif !== undefined) parts.push(`iif ${r.iif}`);
  if (r.oif !== undefined) parts.push(`oif ${r.oif}`);
  if (r.fwmark !== undefined) parts.push(`fwmark ${r.fwmark}${r.fwmask === undefined ? "" : `/${r.fwmask}`}`);
  if (r.action === "lookup") parts.push(`lookup ${r.table}`);
  else if (r.action === "goto") parts.push(`goto ${r.goto}`);
  else parts.push(r.action);
  if (r.suppressPrefixlength !== undefined) parts.push(`suppress_prefixlength ${r.suppressPrefixlength}`);
  return parts.join(" ");
}

const opts = (o: Readonly<Record<string, string | number | boolean>>): string =>
  Object.keys(o)
    .sort()
    .map((k) => ` ${k} ${String(o[k])}`)
    .join("");

export function describeObject(o: KernelObject): string {
  switch (o.kind) {
    case "route":
      return route(o);
    case "rule":
      return rule(o);
    case "link":
      return `${o.name} ${o.adminUp ? "up" : "down"} mtu ${o.mtu}`;
    case "address":
      return `${o.local} dev ${o.dev} scope ${o.scope}`;
    case "sysctl":
      return `${o.name} = ${o.value}`;
    case "qdisc":
      return `${o.qdiscKind} ${o.handle} dev ${o.dev} parent ${o.parent}${opts(o.options)}`;
    case "class":
      return `${o.classKind} ${o.classid} dev ${o.dev} parent ${o.parent}${opts(o.options)}`;
    case "filter":
      return `${o.filterKind} dev ${o.dev} parent ${o.parent} protocol ${o.protocol} pref ${o.pref}${o.flowid === undefined ? "" : ` flowid ${o.flowid}`}${o.matches.map((m) => ` match ${m.field} ${m.value}`).join("")}`;
    case "nft-table":
      return `table ${o.family} ${o.name}`;
    case "hostapd":
      return `hostapd on ${o.iface} ssid "${o.ssid}" ${o.security}`;
    case "dnsmasq":
      return `dnsmasq on ${o.iface}`;
    case "dhcp-client":
      return `DHCP client on ${o.iface}`;
  }
}
