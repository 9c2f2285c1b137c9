// One line per kernel object, in the words of the tool that manages it (ip, tc, sysctl), for people.
import type { KernelObject, Nexthop, Op, Qdisc, Route, Rule, TcClass, TcFilter } from "./types.js";
import { formatRate } from "../util/units.js";
import { describeNat } from "../core/plan/nat.js";
import { htbDefaultBurst } from "../core/plan/qos.js";

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

const rate = (v: unknown): string =>
  typeof v === "number" && Number.isSafeInteger(v) && v >= 0 ? formatRate(v) : String(v);

function qdisc(q: Qdisc): string {
  const where = q.parent === "root" ? "root" : `parent ${q.parent}`;
  const def = q.options["default"];
  if (q.qdiscKind === "htb" && typeof def === "string" && /^0x[0-9a-f]+$/.test(def)) {
    const { default: _d, ...rest } = q.options;
    const major = q.handle.split(":")[0];
    return `htb ${q.handle} dev ${q.dev} ${where} default ${major}:${def.slice(2)}${opts(rest)}`;
  }
  return `${q.qdiscKind} ${q.handle} dev ${q.dev} ${where}${opts(q.options)}`;
}

function tcClass(c: TcClass): string {
  const o = c.options;
  if (c.classKind !== "htb" || o["rate"] === undefined || o["ceil"] === undefined)
    return `${c.classKind} ${c.classid} dev ${c.dev} parent ${c.parent}${opts(o)}`;
  const { rate: r, ceil, prio, burst, cburst, ...rest } = o;
  // Bursts only when they are not what tc derives from the rates.
  const bursts =
    burst === htbDefaultBurst(Number(r)) && cburst === htbDefaultBurst(Number(ceil))
      ? ""
      : ` burst ${String(burst)}b cburst ${String(cburst)}b`;
  return (
    `htb ${c.classid} dev ${c.dev} parent ${c.parent} rate ${rate(r)} ceil ${rate(ceil)}` +
    `${prio === undefined ? "" : ` prio ${String(prio)}`}${bursts}${opts(rest)}`
  );
}

/** The raw u32 keys of a filter as value/mask by offset, when every key is raw. */
function rawKeys(f: TcFilter): Map<number, { value: number; mask: number }> | undefined {
  const out = new Map<number, { value: number; mask: number }>();
  for (const m of f.matches) {
    const at = /^u32 at (\d+)$/.exec(m.field);
    const v = /^0x([0-9a-f]{8})\/0x([0-9a-f]{8})$/.exec(m.value);
    if (at === null || v === null) return undefined;
    out.set(Number(at[1]), { value: parseInt(v[1]!, 16), mask: parseInt(v[2]!, 16) });
  }
  return out;
}

const PROTOCOLS: Readonly<Record<number, string>> = { 6: "tcp", 17: "udp" };

/**
 * The classifications QoS writes, in words: "ip dscp 46", "ip6 tcp dport 22" (see qos.ts for the keys).
 * Undefined for anything else.
 */
function qosMatch(f: TcFilter): string | undefined {
  const k = rawKeys(f);
  const w0 = k?.get(0);
  if (k === undefined || w0 === undefined) return undefined;
  const field = (off: number, mask: number, shift: number): number | undefined => {
    const x = k.get(off);
    return x !== undefined && x.mask >>> 0 === mask ? (x.value >>> shift) & (mask >>> shift) : undefined;
  };
  if (k.size === 1 && w0.mask >>> 0 === 0xf0fc0000 && w0.value >>> 28 === 4)
    return `ip dscp ${(w0.value >>> 18) & 0x3f}`;
  if (k.size === 1 && w0.mask >>> 0 === 0xffc00000 && w0.value >>> 28 === 6)
    return `ip6 dscp ${(w0.value >>> 22) & 0x3f}`;
  if (k.size !== 3) return undefined;
  const v4 = w0.mask >>> 0 === 0xff000000 && w0.value >>> 24 === 0x45;
  const v6 = w0.mask >>> 0 === 0xf0000000 && w0.value >>> 28 === 6;
  const proto = v4 ? field(8, 0x00ff0000, 16) : v6 ? field(4, 0x0000ff00, 8) : undefined;
  const port = v4 ? field(20, 0x0000ffff, 0) : v6 ? field(40, 0x0000ffff, 0) : undefined;
  if (proto === undefined || port === undefined || PROTOCOLS[proto] === undefined) return undefined;
  return `${v4 ? "ip" : "ip6"} ${PROTOCOLS[proto]} dport ${port}`;
}

function filter(f: TcFilter): string {
  const head = `${f.filterKind}${f.handle === undefined ? "" : ` ${f.handle}`} dev ${f.dev} parent ${f.parent} protocol ${f.protocol} pref ${f.pref}`;
  const words = f.options === undefined ? qosMatch(f) : undefined;
  const what =
    words !== undefined ? ` ${words}` : f.matches.map((m) => ` match ${m.field} ${m.value}`).join("");
  return `${head}${what}${f.flowid === undefined ? "" : ` flowid ${f.flowid}`}${f.options === undefined ? "" : opts(f.options)}`;
}

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
      return qdisc(o);
    case "class":
      return tcClass(o);
    case "filter":
      return filter(o);
    case "nft-table": {
      const nat = describeNat(o);
      return `nft table ${o.family} ${o.name}${nat === undefined ? "" : `: ${nat}`}`;
    }
    case "hostapd":
      return `hostapd on ${o.iface} ssid "${o.ssid}" ${o.security}`;
    case "dnsmasq":
      return `dnsmasq on ${o.iface}`;
    case "dhcp-client":
      return `DHCP client on ${o.iface}`;
  }
}

/** "add route default via 100.64.1.1 dev eth0 table 101": one op, for people and logs. */
export function describeOp(op: Op): string {
  const obj = op.op === "delete" ? op.before : op.after;
  return `${op.op} ${obj.kind} ${describeObject(obj)}`;
}
