// Lab topologies are data: a YAML file checked against schemas/topology.schema.json (ajv), then for
// what a schema cannot say (addresses inside their subnets, names unique, subnets apart). Errors name
// file:line:col. The result is a plain, fully defaulted Topology the lab builds from.
import { readFileSync } from "node:fs";
import Ajv, { type ErrorObject } from "ajv";
import addFormats from "ajv-formats";
import ipaddr from "ipaddr.js";
import { LineCounter, parseDocument, type Document } from "yaml";

export interface ProbeTarget {
  readonly address: string;
  readonly tcp: readonly number[];
  readonly http: readonly number[];
}

/**
 * How the node's interface gets its address. `address` is what the node ends up with ("a.b.c.d/len"):
 * external: the lab puts it there; dhcp: dnsmasq leases it (the range's first address) to the
 * interface's MAC, which the lab pins.
 */
export type Addressing =
  | {
      readonly mode: "external";
      readonly address: string;
      /** Also `default via GATEWAY metric N` in the main table, as the agent that set the address would add. */
      readonly defaultRouteMetric?: number;
    }
  | {
      readonly mode: "dhcp";
      readonly address: string;
      readonly range: readonly [string, string];
      readonly leaseTime: string;
      /** dnsmasq, or busybox's udhcpd (for leases under dnsmasq's 2-minute minimum). */
      readonly server: DhcpServer;
    };

export type DhcpServer = "dnsmasq" | "udhcpd";

export interface Uplink {
  /** The interface as the node sees it. */
  readonly iface: string;
  /** Short name of the ISP namespace. */
  readonly isp: string;
  /** The ISP's end of the veth pair. */
  readonly peer: string;
  /** The ISP's address on the uplink, "a.b.c.d/len". */
  readonly gateway: string;
  readonly addressing: Addressing;
}

export interface Client {
  readonly namespace: string;
  /** The node's hotspot interface. */
  readonly iface: string;
  readonly peer: string;
  readonly nodeAddress?: string;
  readonly address: string;
}

export interface Topology {
  /** Short name of the node namespace. */
  readonly node: string;
  readonly internet: {
    readonly targets: readonly ProbeTarget[];
    readonly routesBack: readonly string[];
  };
  readonly uplinks: readonly Uplink[];
  readonly client?: Client;
}

export class TopologyError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid lab topology:\n  ${problems.join("\n  ")}`);
    this.name = "TopologyError";
  }
}

/** The topology file as written (after schema defaults). */
interface RawTopology {
  node: string;
  internet: { targets: Array<{ address: string; tcp: number[]; http: number[] }>; routesBack: string[] };
  uplinks: Array<{
    iface: string;
    isp: string;
    peer: string;
    gateway: string;
    address?: string;
    defaultRouteMetric?: number;
    dhcp?: { range: [string, string]; leaseTime: string | number; server: DhcpServer };
  }>;
  client?: { namespace: string; iface: string; peer: string; nodeAddress?: string; address: string };
}

type Path = ReadonlyArray<string | number>;
interface Problem {
  readonly path: Path;
  readonly message: string;
}

const schema = JSON.parse(
  readFileSync(new URL("../../schemas/topology.schema.json", import.meta.url), "utf8"),
) as object;
// verbose: an anyOf's error can then say what its schema describes.
const ajv = new Ajv.default({
  allErrors: true,
  useDefaults: true,
  strict: true,
  strictRequired: false,
  verbose: true,
});
addFormats.default(ajv, ["ipv4"]);
const validateSchema = ajv.compile<RawTopology>(schema);

export const DEMO_TOPOLOGY_FILE = new URL("../../examples/lab/demo-topology.yaml", import.meta.url).pathname;

export function loadTopology(file: string): Topology {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new TopologyError([`${file}: cannot read: ${(e as Error).message}`]);
  }
  return parseTopology(text, file);
}

export function parseTopology(text: string, source = "<topology>"): Topology {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const where = (offset: number): string => {
    const p = lines.linePos(offset);
    return `${source}:${p.line}:${p.col}`;
  };
  if (doc.errors.length > 0)
    throw new TopologyError(doc.errors.map((e) => `${where(e.pos[0])}: ${e.message.split("\n")[0]}`));
  const raw: unknown = doc.toJS();
  const report = (problems: readonly Problem[]): TopologyError =>
    new TopologyError(problems.map((p) => `${locate(doc, p.path, where, source)}: ${p.message}`));
  if (!validateSchema(raw)) throw report(schemaProblems(validateSchema.errors ?? []));
  const problems = semanticProblems(raw);
  if (problems.length > 0) throw report(problems);
  return normalize(raw);
}

function locate(doc: Document, path: Path, where: (offset: number) => string, source: string): string {
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
    if (node?.range) return where(node.range[0]);
  }
  return source;
}

function schemaProblems(errors: readonly ErrorObject[]): Problem[] {
  return errors
    .filter((e) => !e.schemaPath.includes("/oneOf/") && !e.schemaPath.includes("/anyOf/"))
    .map((e) => {
      const path = e.instancePath
        .split("/")
        .slice(1)
        .map((s) => (/^\d+$/.test(s) ? Number(s) : s.replace(/~1/g, "/").replace(/~0/g, "~")));
      const where = path.length === 0 ? "topology" : path.join(".");
      if (e.keyword === "oneOf")
        return { path, message: `${where}: give either address (external addressing) or dhcp, not both` };
      if (e.keyword === "anyOf") {
        const d = (e.parentSchema as { description?: string } | undefined)?.description;
        return { path, message: `${where}: ${JSON.stringify(e.data)} is not accepted${d ? `: ${d}` : ""}` };
      }
      if (e.keyword === "additionalProperties")
        return { path, message: `${where}: unknown field ${JSON.stringify(e.params["additionalProperty"])}` };
      if (e.keyword === "required")
        return { path, message: `${where}: missing field ${JSON.stringify(e.params["missingProperty"])}` };
      return { path, message: `${where}: ${e.message ?? "invalid"}` };
    });
}

function parseInterface(s: string): [ipaddr.IPv4, number] | undefined {
  try {
    return ipaddr.IPv4.parseCIDR(s);
  } catch {
    return undefined;
  }
}

function isPrefix(s: string): boolean {
  const p = parseInterface(s);
  return p !== undefined && ipaddr.IPv4.networkAddressFromCIDR(s).toString() === p[0].toString();
}

function semanticProblems(t: RawTopology): Problem[] {
  const problems: Problem[] = [];
  const fail = (path: Path, message: string): void => void problems.push({ path, message });

  const names = new Map<string, string>();
  const claimName = (name: string, what: string, path: Path): void => {
    const prior = names.get(name);
    if (prior !== undefined) fail(path, `namespace name ${JSON.stringify(name)} is already used by ${prior}`);
    else names.set(name, what);
  };
  claimName(t.node, "the node", ["node"]);

  const ifaces = new Set<string>();
  const claimIface = (iface: string, path: Path): void => {
    if (iface === "lo") fail(path, `"lo" is the loopback interface`);
    else if (ifaces.has(iface)) fail(path, `the node already has an interface ${JSON.stringify(iface)}`);
    ifaces.add(iface);
  };

  const subnets: Array<{ net: [ipaddr.IPv4, number]; path: Path }> = [];
  const claimSubnet = (cidr: string, path: Path): void => {
    const net = parseInterface(cidr);
    if (net === undefined) return;
    for (const other of subnets) {
      const bits = Math.min(net[1], other.net[1]);
      if (net[0].match(other.net[0], bits))
        fail(path, `the subnet of ${cidr} overlaps the subnet at ${other.path.join(".")}`);
    }
    subnets.push({ net, path });
  };

  /** Checks an "address/len" and returns its subnet when valid. */
  const hostInterface = (value: string, path: Path): [ipaddr.IPv4, number] | undefined => {
    const p = parseInterface(value);
    if (p === undefined) return void fail(path, `${JSON.stringify(value)} is not an IPv4 address/prefix`);
    if (p[1] < 8 || p[1] > 30) return void fail(path, `prefix length /${p[1]} is outside /8../30`);
    const net = ipaddr.IPv4.networkAddressFromCIDR(value).toString();
    const bcast = ipaddr.IPv4.broadcastAddressFromCIDR(value).toString();
    if (p[0].toString() === net || p[0].toString() === bcast)
      return void fail(path, `${value} is the network or broadcast address of its subnet`);
    return p;
  };
  const sameSubnet = (a: [ipaddr.IPv4, number], value: string, path: Path, what: string): void => {
    const b = parseInterface(value);
    if (b === undefined) return;
    const net = `${ipaddr.IPv4.networkAddressFromCIDR(`${a[0]}/${a[1]}`)}/${a[1]}`;
    if (b[1] !== a[1] || !b[0].match(a)) fail(path, `${what} ${value} is not in the subnet ${net}`);
    else if (b[0].toString() === a[0].toString()) fail(path, `${what} ${value} is the gateway's address`);
  };

  const seenTargets = new Set<string>();
  t.internet.targets.forEach((target, i) => {
    const path = ["internet", "targets", i];
    if (seenTargets.has(target.address)) fail(path, `target ${target.address} is listed twice`);
    seenTargets.add(target.address);
    const ports = [...target.tcp, ...target.http];
    if (new Set(ports).size !== ports.length) fail(path, `target ${target.address} uses a port twice`);
    if (ports.length === 0) fail(path, `target ${target.address} has no tcp or http port`);
  });
  t.internet.routesBack.forEach((p, i) => {
    if (!isPrefix(p)) fail(["internet", "routesBack", i], `${JSON.stringify(p)} is not an IPv4 prefix`);
  });

  t.uplinks.forEach((u, i) => {
    const path = ["uplinks", i];
    claimName(u.isp, `uplink ${u.iface}`, [...path, "isp"]);
    claimIface(u.iface, [...path, "iface"]);
    const gw = hostInterface(u.gateway, [...path, "gateway"]);
    if (gw === undefined) return;
    claimSubnet(u.gateway, [...path, "gateway"]);
    if (u.address !== undefined && hostInterface(u.address, [...path, "address"]) !== undefined)
      sameSubnet(gw, u.address, [...path, "address"], "address");
    if (u.dhcp !== undefined && u.defaultRouteMetric !== undefined)
      fail(
        [...path, "defaultRouteMetric"],
        "defaultRouteMetric is for external addressing (DHCP installs no route here)",
      );
    if (u.dhcp !== undefined) {
      const [start, end] = u.dhcp.range;
      const len = gw[1];
      sameSubnet(gw, `${start}/${len}`, [...path, "dhcp", "range", 0], "range start");
      sameSubnet(gw, `${end}/${len}`, [...path, "dhcp", "range", 1], "range end");
      const s = ipaddr.IPv4.parse(start).toByteArray();
      const e = ipaddr.IPv4.parse(end).toByteArray();
      const num = (b: number[]): number => b.reduce((acc, x) => acc * 256 + x, 0);
      const g = num(gw[0].toByteArray());
      if (num(s) > num(e)) fail([...path, "dhcp", "range"], `range start ${start} is after its end ${end}`);
      else if (num(s) <= g && g <= num(e))
        fail([...path, "dhcp", "range"], `the range holds the gateway's address ${gw[0]}`);
      const least =
        u.dhcp.server === "udhcpd" ? { s: 10, text: "10 seconds" } : { s: 120, text: "2 minutes" };
      if (leaseSeconds(String(u.dhcp.leaseTime)) < least.s)
        fail(
          [...path, "dhcp", "leaseTime"],
          `lease time ${u.dhcp.leaseTime} is under ${least.text} (the least ${u.dhcp.server} serves)`,
        );
    }
  });

  if (t.client !== undefined) {
    const c = t.client;
    claimName(c.namespace, "the client", ["client", "namespace"]);
    claimIface(c.iface, ["client", "iface"]);
    const addr = hostInterface(c.address, ["client", "address"]);
    if (addr !== undefined) claimSubnet(c.address, ["client", "address"]);
    if (c.nodeAddress !== undefined && addr !== undefined) {
      const node = hostInterface(c.nodeAddress, ["client", "nodeAddress"]);
      if (node !== undefined) sameSubnet(node, c.address, ["client", "address"], "client address");
    }
  }
  return problems;
}

function normalize(t: RawTopology): Topology {
  return {
    node: t.node,
    internet: {
      targets: t.internet.targets.map((x) => ({ address: x.address, tcp: [...x.tcp], http: [...x.http] })),
      routesBack: [...t.internet.routesBack],
    },
    uplinks: t.uplinks.map((u) => {
      const len = u.gateway.split("/")[1];
      // The schema's oneOf guarantees exactly one of dhcp and address.
      const addressing: Addressing = u.dhcp
        ? {
            mode: "dhcp",
            address: `${u.dhcp.range[0]}/${len}`,
            range: [u.dhcp.range[0], u.dhcp.range[1]],
            leaseTime: String(u.dhcp.leaseTime),
            server: u.dhcp.server,
          }
        : {
            mode: "external",
            address: u.address as string,
            ...(u.defaultRouteMetric === undefined ? {} : { defaultRouteMetric: u.defaultRouteMetric }),
          };
      return { iface: u.iface, isp: u.isp, peer: u.peer, gateway: u.gateway, addressing };
    }),
    ...(t.client !== undefined
      ? {
          client: {
            namespace: t.client.namespace,
            iface: t.client.iface,
            peer: t.client.peer,
            address: t.client.address,
            ...(t.client.nodeAddress !== undefined ? { nodeAddress: t.client.nodeAddress } : {}),
          },
        }
      : {}),
  };
}

/** A lease time as the topology writes it ("90", "2m", "1h"), in seconds; 0 when malformed. */
export function leaseSeconds(text: string): number {
  const m = /^(\d+)([mh]?)$/.exec(text);
  return m ? Number(m[1]) * (m[2] === "h" ? 3600 : m[2] === "m" ? 60 : 1) : 0;
}

/** The address without its prefix length. */
export function hostOf(cidr: string): string {
  return cidr.split("/")[0] ?? cidr;
}
