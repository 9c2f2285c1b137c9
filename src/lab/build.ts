// What the lab runs, as data: namespace names, `ip -batch` lines, dnsmasq and nftables text. Pure, so
// the safety rules (every veth end inside a lab namespace) are checked without a kernel.
import { createHash } from "node:crypto";
import { hostOf, leaseSeconds, type Topology, type Uplink } from "./topology.js";

/** The namespaces of one lab, by role. */
export interface LabNames {
  readonly node: string;
  readonly client?: string;
  /** ISP namespace by the node's uplink interface. */
  readonly isp: Readonly<Record<string, string>>;
}

export function labNames(id: string, t: Topology): LabNames {
  return {
    node: `${id}-${t.node}`,
    ...(t.client ? { client: `${id}-${t.client.namespace}` } : {}),
    isp: Object.fromEntries(t.uplinks.map((u) => [u.iface, `${id}-${u.isp}`])),
  };
}

export function allNamespaces(n: LabNames): string[] {
  return [n.node, ...Object.values(n.isp), ...(n.client ? [n.client] : [])];
}

/**
 * The MAC of the node's end of an uplink: locally administered, fixed per lab and uplink, so the
 * DHCP server can lease the node a known address and a re-created interface looks the same.
 */
export function uplinkMac(id: string, index: number): string {
  const h = createHash("sha256").update(id).digest();
  const bytes = [0x02, h[0] ?? 0, h[1] ?? 0, h[2] ?? 0, (index >> 8) & 0xff, index & 0xff];
  return bytes.map((b) => b.toString(16).padStart(2, "0")).join(":");
}

/** A veth pair created from the root namespace with both ends placed directly in lab namespaces. */
export function vethLine(
  a: { ns: string; name: string; mac?: string },
  b: { ns: string; name: string },
): string {
  const mac = a.mac ? ` address ${a.mac}` : "";
  return `link add ${a.name} netns ${a.ns}${mac} type veth peer name ${b.name} netns ${b.ns}`;
}

export function uplinkVethLine(id: string, t: Topology, n: LabNames, iface: string): string {
  const index = t.uplinks.findIndex((u) => u.iface === iface);
  const u = t.uplinks[index];
  const isp = n.isp[iface];
  if (u === undefined || isp === undefined) throw new Error(`the lab has no uplink ${iface}`);
  return vethLine({ ns: n.node, name: u.iface, mac: uplinkMac(id, index) }, { ns: isp, name: u.peer });
}

/** Root-namespace batch: the namespaces and the veth pairs between them. Nothing else runs in root. */
export function rootBatch(id: string, t: Topology, n: LabNames): string[] {
  const lines = allNamespaces(n).map((ns) => `netns add ${ns}`);
  for (const u of t.uplinks) lines.push(uplinkVethLine(id, t, n, u.iface));
  if (t.client && n.client)
    lines.push(vethLine({ ns: n.node, name: t.client.iface }, { ns: n.client, name: t.client.peer }));
  return lines;
}

/** Node batch: loopback and links up, the addresses the lab assigns (external uplinks, hotspot). */
export function nodeBatch(t: Topology): string[] {
  const lines = ["link set lo up"];
  for (const u of t.uplinks) lines.push(...nodeUplinkLines(u));
  if (t.client) {
    lines.push(`link set ${t.client.iface} up`);
    if (t.client.nodeAddress) lines.push(`address add ${t.client.nodeAddress} dev ${t.client.iface}`);
  }
  return lines;
}

export function nodeUplinkLines(u: Uplink): string[] {
  const lines = [`link set ${u.iface} up`];
  if (u.addressing.mode === "external") {
    lines.push(`address add ${u.addressing.address} dev ${u.iface}`);
    const metric = u.addressing.defaultRouteMetric;
    if (metric !== undefined)
      lines.push(`route add default via ${hostOf(u.gateway)} dev ${u.iface} metric ${metric}`);
  }
  return lines;
}

/** ISP batch: the probe targets on loopback, its end of the uplink with the gateway, routes back. */
export function ispBatch(t: Topology, u: Uplink, gateway: string): string[] {
  return [
    "link set lo up",
    ...t.internet.targets.map((x) => `address add ${x.address}/32 dev lo`),
    ...ispUplinkLines(t, u, gateway),
  ];
}

export function ispUplinkLines(t: Topology, u: Uplink, gateway: string): string[] {
  return [
    `link set ${u.peer} up`,
    `address add ${gateway} dev ${u.peer}`,
    ...t.internet.routesBack.map((p) => `route add ${p} via ${hostOf(u.addressing.address)} dev ${u.peer}`),
  ];
}

/** Client batch: its address and a default route through the node's hotspot address. */
export function clientBatch(t: Topology): string[] {
  if (!t.client) return [];
  const c = t.client;
  return [
    "link set lo up",
    `link set ${c.peer} up`,
    `address add ${c.address} dev ${c.peer}`,
    ...(c.nodeAddress ? [`route add default via ${hostOf(c.nodeAddress)} dev ${c.peer}`] : []),
  ];
}

/** What the DHCP server of an uplink is told: the router, the node's MAC and the address it leases that MAC. */
export interface DhcpServing {
  /** The ISP's gateway, "a.b.c.d/len". */
  readonly gateway: string;
  readonly mac: string;
  /** The address the node's MAC is leased (no prefix length). */
  readonly leased: string;
  /** The lab's state directory: config, leases, pid file, log. */
  readonly dir: string;
}

/** How the lab runs one uplink's DHCP server: its config file, the command (which forks) and its pid file. */
export interface DhcpServerSetup {
  readonly configFile: string;
  readonly config: string;
  readonly argv: readonly string[];
  readonly pidFile: string;
}

function netmaskOf(cidr: string): string {
  const len = Number(cidr.split("/")[1]);
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return [24, 16, 8, 0].map((s) => (mask >>> s) & 0xff).join(".");
}

/** dnsmasq for a DHCP uplink: DHCP only (no DNS), authoritative, so a renewal of another address is NAKed. */
export function dnsmasqConfig(u: Uplink, s: DhcpServing): string {
  if (u.addressing.mode !== "dhcp") throw new Error(`uplink ${u.iface} is not DHCP-addressed`);
  const [start, end] = u.addressing.range;
  return [
    `interface=${u.peer}`,
    "bind-dynamic",
    "port=0",
    "no-resolv",
    "no-hosts",
    "dhcp-authoritative",
    "user=root",
    `dhcp-range=${start},${end},${netmaskOf(s.gateway)},${u.addressing.leaseTime}`,
    `dhcp-option=option:router,${hostOf(s.gateway)}`,
    `dhcp-host=${s.mac},${s.leased}`,
    `dhcp-leasefile=${s.dir}/${u.iface}.leases`,
    `pid-file=${s.dir}/${u.iface}.pid`,
    `log-facility=${s.dir}/${u.iface}.dnsmasq.log`,
    "",
  ].join("\n");
}

/** busybox udhcpd for a DHCP uplink: serves leases as short as 10 s (udhcpc itself renews no leases under 16 s). */
export function udhcpdConfig(u: Uplink, s: DhcpServing): string {
  if (u.addressing.mode !== "dhcp") throw new Error(`uplink ${u.iface} is not DHCP-addressed`);
  const [start, end] = u.addressing.range;
  const seconds = leaseSeconds(u.addressing.leaseTime);
  return [
    `interface ${u.peer}`,
    `start ${start}`,
    `end ${end}`,
    `option subnet ${netmaskOf(s.gateway)}`,
    `option router ${hostOf(s.gateway)}`,
    `option lease ${seconds}`,
    `min_lease ${seconds}`,
    `static_lease ${s.mac} ${s.leased}`,
    `lease_file ${s.dir}/${u.iface}.leases`,
    `pidfile ${s.dir}/${u.iface}.pid`,
    "",
  ].join("\n");
}

export function dhcpServerSetup(u: Uplink, s: DhcpServing): DhcpServerSetup {
  if (u.addressing.mode !== "dhcp") throw new Error(`uplink ${u.iface} is not DHCP-addressed`);
  const server = u.addressing.server;
  const configFile = `${s.dir}/${u.iface}.${server}.conf`;
  return {
    configFile,
    config: server === "dnsmasq" ? dnsmasqConfig(u, s) : udhcpdConfig(u, s),
    argv: server === "dnsmasq" ? ["dnsmasq", `--conf-file=${configFile}`] : ["busybox", "udhcpd", configFile],
    pidFile: `${s.dir}/${u.iface}.pid`,
  };
}

/** The nftables table that makes an ISP drop everything from and to the node, carrier untouched. */
export const GRAY_TABLE = "backhaul_lab_gray";

export function grayFailureRuleset(peer: string): string {
  return [
    `table inet ${GRAY_TABLE} {`,
    "  chain input {",
    "    type filter hook input priority -10; policy accept;",
    `    iifname "${peer}" drop`,
    "  }",
    "  chain forward {",
    "    type filter hook forward priority -10; policy accept;",
    `    iifname "${peer}" drop`,
    `    oifname "${peer}" drop`,
    "  }",
    "  chain output {",
    "    type filter hook output priority -10; policy accept;",
    `    oifname "${peer}" drop`,
    "  }",
    "}",
    "",
  ].join("\n");
}
