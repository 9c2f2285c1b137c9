// What `backhaul show` prints: a selection of the observed state (pure) and its human rendering (pure).
import type { Address, KernelState, Link, Qdisc, Route, Rule, TcClass, TcFilter } from "../kinds/types.js";
import { protocolName, tableName } from "../kinds/ip/names.js";

export const SHOW_FORMAT_VERSION = 1;

const TABLE_LOCAL = 255;
const PROTO_KERNEL = 2;

/** The three rules every kernel starts with: local, main and default lookups. */
function isDefaultRule(r: Rule): boolean {
  const defaults: readonly (readonly [number, number])[] = [
    [0, 255],
    [32766, 254],
    [32767, 253],
  ];
  return (
    r.protocol === PROTO_KERNEL &&
    r.action === "lookup" &&
    defaults.some(([p, t]) => r.priority === p && r.table === t) &&
    Object.keys(r).every((k) => ["kind", "family", "priority", "action", "table", "protocol"].includes(k))
  );
}

const isLinkLocal = (a: Address): boolean => a.family === 6 && a.scope === "link";

/**
 * The default view: what backhaul manages or could manage. Links that could be an uplink or a hotspot
 * (class other than "other") with their addresses (IPv6 link-local left out), every rule but the
 * kernel's three defaults, routes of every table but local, configured qdisc trees, classes and
 * filters of those links, our nft table, forwarding and the shown links' sysctls, our services.
 * `all` keeps everything.
 */
export function selectForShow(s: KernelState, all: boolean): KernelState {
  if (all) return s;
  const links = new Set(s.link.filter((l) => l.linkClass !== "other").map((l) => l.name));
  const sysctlShown = (name: string): boolean => {
    const m = /^net\.ipv[46]\.conf\.([^.]+)\./.exec(name);
    return m === null || m[1] === "all" || links.has(m[1] as string);
  };
  return {
    ...s,
    link: s.link.filter((l) => links.has(l.name)),
    address: s.address.filter((a) => links.has(a.dev) && !isLinkLocal(a)),
    rule: s.rule.filter((r) => !isDefaultRule(r)),
    route: s.route.filter((r) => r.table !== TABLE_LOCAL),
    qdisc: s.qdisc.filter((q) => links.has(q.dev) && q.handle !== "0:" && q.handle !== ""),
    class: s.class.filter((c) => links.has(c.dev)),
    filter: s.filter.filter((f) => links.has(f.dev)),
    sysctl: s.sysctl.filter((x) => sysctlShown(x.name)),
  };
}

/** The --json document. */
export function showDocument(s: KernelState, opts: { netns?: string; all: boolean }): object {
  return { format_version: SHOW_FORMAT_VERSION, netns: opts.netns ?? null, all: opts.all, state: s };
}

/** Columns padded to their widest cell; the last column is not padded. */
export function columns(rows: readonly (readonly string[])[], indent = "  "): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map(
    (r) =>
      indent +
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
        .join("  ")
        .trimEnd(),
  );
}

function linkRows(s: KernelState): string[] {
  const addrs = (l: Link): string =>
    s.address
      .filter((a) => a.dev === l.name)
      .map((a) => a.local + (a.peer !== undefined ? ` peer ${a.peer}` : ""))
      .join(" ") || "-";
  return columns([
    ["NAME", "CLASS", "ADMIN", "OPER", "CARRIER", "MTU", "DRIVER", "MAC", "ADDRESSES"],
    ...[...s.link]
      .sort((a, b) => a.index - b.index)
      .map((l) => [
        l.name,
        l.linkClass,
        l.adminUp ? "up" : "down",
        l.operState,
        l.carrier ? "yes" : "no",
        String(l.mtu),
        l.driver ?? l.linkKind ?? "-",
        l.mac ?? "-",
        addrs(l),
      ]),
  ]);
}

const hexn = (n: number): string => `0x${n.toString(16)}`;

export function ruleText(r: Rule): string {
  const sel = [
    r.not ? "not" : "",
    `from ${r.from ?? "all"}`,
    r.to !== undefined ? `to ${r.to}` : "",
    r.tos !== undefined ? `tos ${hexn(r.tos)}` : "",
    r.fwmark !== undefined
      ? `fwmark ${hexn(r.fwmark)}${r.fwmask !== undefined ? `/${hexn(r.fwmask)}` : ""}`
      : "",
    r.iif !== undefined ? `iif ${r.iif}` : "",
    r.oif !== undefined ? `oif ${r.oif}` : "",
    r.ipproto !== undefined ? `ipproto ${r.ipproto}` : "",
    r.sport !== undefined ? `sport ${r.sport}` : "",
    r.dport !== undefined ? `dport ${r.dport}` : "",
    r.uidrange !== undefined ? `uidrange ${r.uidrange}` : "",
    r.l3mdev ? "l3mdev" : "",
  ];
  const action =
    r.action === "lookup"
      ? r.table !== undefined
        ? `lookup ${tableName(r.table)}`
        : ""
      : r.action === "goto"
        ? `goto ${r.goto ?? "?"}`
        : r.action;
  const suppress =
    r.suppressPrefixlength !== undefined ? `suppress_prefixlength ${r.suppressPrefixlength}` : "";
  return [...sel, action, suppress, r.protocol !== 0 ? `proto ${protocolName(r.protocol)}` : ""]
    .filter(Boolean)
    .join(" ");
}

export function routeText(r: Route): string {
  const parts = [
    r.type !== "unicast" ? r.type : "",
    r.dst,
    r.gateway !== undefined ? `via ${r.gateway}` : "",
    r.dev !== undefined ? `dev ${r.dev}` : "",
    r.onlink ? "onlink" : "",
    `proto ${protocolName(r.protocol)}`,
    r.scope !== "global" ? `scope ${r.scope}` : "",
    r.prefsrc !== undefined ? `src ${r.prefsrc}` : "",
    r.metric !== 0 ? `metric ${r.metric}` : "",
    ...(r.nexthops ?? []).map(
      (n) =>
        `nexthop${n.gateway !== undefined ? ` via ${n.gateway}` : ""} dev ${n.dev} weight ${n.weight}${n.onlink ? " onlink" : ""}`,
    ),
  ];
  return parts.filter(Boolean).join(" ");
}

/** 10000000 → "10Mbit": rates are stored in bit/s, shown as tc writes them. */
export function rateText(bps: number): string {
  for (const [unit, f] of [
    ["Gbit", 1e9],
    ["Mbit", 1e6],
    ["Kbit", 1e3],
  ] as const) {
    if (bps >= f && bps % (f / 1000) === 0) return `${bps / f}${unit}`;
  }
  return `${bps}bit`;
}

const optionText = (o: Readonly<Record<string, string | number | boolean>>): string =>
  Object.entries(o)
    .map(([k, v]) => `${k} ${typeof v === "number" && /^(rate|ceil)$/.test(k) ? rateText(v) : String(v)}`)
    .join(" ");

function qdiscTree(dev: string, s: KernelState): string[] {
  const qdiscs = s.qdisc.filter((q) => q.dev === dev);
  const classes = s.class.filter((c) => c.dev === dev);
  const out: string[] = [];
  const major = (h: string): string => h.split(":")[0] ?? "";
  const walkQdisc = (q: Qdisc, depth: number): void => {
    out.push(
      `${"  ".repeat(depth)}qdisc ${q.qdiscKind} ${q.handle} ${q.parent === "root" || q.parent === "ingress" ? q.parent : `parent ${q.parent}`} ${optionText(q.options)}`.trimEnd(),
    );
    const kids = classes.filter(
      (c) => c.parent === q.handle || (c.parent === "root" && major(c.classid) === major(q.handle)),
    );
    for (const c of kids) walkClass(c, depth + 1);
  };
  const walkClass = (c: TcClass, depth: number): void => {
    out.push(`${"  ".repeat(depth)}class ${c.classKind} ${c.classid} ${optionText(c.options)}`.trimEnd());
    for (const k of classes.filter((x) => x.parent === c.classid)) walkClass(k, depth + 1);
    for (const q of qdiscs.filter((x) => x.parent === c.classid)) walkQdisc(q, depth + 1);
  };
  for (const q of qdiscs.filter((x) => x.parent === "root" || x.parent === "ingress")) walkQdisc(q, 1);
  const filters = s.filter.filter((f) => f.dev === dev);
  if (filters.length > 0) out.push("  filters:");
  for (const f of [...filters].sort((a, b) => a.parent.localeCompare(b.parent) || a.pref - b.pref))
    out.push(`    ${filterText(f)}`);
  return out;
}

export function filterText(f: TcFilter): string {
  const what = f.matches.map((m) => `${m.field} ${m.value}`).join(", ") || optionText(f.options ?? {});
  return `parent ${f.parent} pref ${f.pref} ${f.protocol} ${f.filterKind}${what !== "" ? ` ${what}` : ""}${f.flowid !== undefined ? ` -> ${f.flowid}` : ""}`;
}

/** The human form: one section per kind that has something to show. */
export function renderShow(s: KernelState, opts: { netns?: string; all: boolean }): string {
  const out: string[] = [];
  const section = (title: string, lines: readonly string[]): void => {
    if (lines.length === 0) return;
    if (out.length > 0) out.push("");
    out.push(title, ...lines);
  };
  section(
    `Links${opts.netns !== undefined ? ` (netns ${opts.netns})` : ""}`,
    s.link.length > 0 ? linkRows(s) : [],
  );
  for (const fam of [4, 6] as const) {
    const rules = s.rule.filter((r) => r.family === fam).sort((a, b) => a.priority - b.priority);
    section(
      `Rules (IPv${fam})`,
      rules.map((r) => `  ${String(r.priority).padStart(5)}: ${ruleText(r)}`),
    );
  }
  const tables = [...new Set(s.route.map((r) => r.table))].sort((a, b) => a - b);
  for (const t of tables) {
    const routes = s.route.filter((r) => r.table === t);
    section(
      `Routes: table ${tableName(t)}`,
      routes.map((r) => `  ${routeText(r)}`),
    );
  }
  const qdiscDevs = [...new Set([...s.qdisc, ...s.class, ...s.filter].map((x) => x.dev))].sort();
  for (const dev of qdiscDevs) section(`Traffic control: ${dev}`, qdiscTree(dev, s));
  section(
    "Hotspot",
    s.hostapd.map((h) => `  ${h.iface}: ${h.state} ssid ${JSON.stringify(h.ssid)} security ${h.security}`),
  );
  section("Services", [
    ...s.dnsmasq.map((d) => `  dnsmasq on ${d.iface}: pid ${d.pid}`),
    ...s["dhcp-client"].map((d) => `  dhcp client on ${d.iface}: pid ${d.pid}`),
  ]);
  section(
    "nftables",
    s["nft-table"].length === 0
      ? ["  no backhaul table"]
      : s["nft-table"].map((t) => {
          const body = JSON.parse(t.body) as Record<string, { rules?: unknown[] }[]>;
          const chains = body["chain"] ?? [];
          const rules = chains.reduce((n, c) => n + (c.rules?.length ?? 0), 0);
          return `  table ${t.family} ${t.name}: ${chains.length} chains, ${rules} rules, ${(body["set"] ?? []).length} sets`;
        }),
  );
  section("Sysctls", columns(s.sysctl.map((x) => [x.name, x.value])));
  return `${out.join("\n")}\n`;
}
