// `backhaul adopt`: a policy for a node as it is, written so that backhaul manages its uplinks without
// moving general traffic. Pure: an observed kernel state and a few facts in, YAML text with comments
// out; checkAdoption then proves the promise on the model kernel (plan on the text, apply the plan,
// look up a generic destination before and after). See docs/adopt.md.
import { Document, isMap, isSeq, type Node } from "yaml";
import { validInterfaceName } from "../kinds/ip/common.js";
import type { KernelState, Link, Route } from "../kinds/types.js";
import { loadPolicyTexts } from "../policy/load.js";
import { digest } from "../util/canonical.js";
import { genericDestinations } from "./invariants.js";
import { applyOps, derivedRoutes, lookup, TABLE_MAIN } from "./model-kernel/index.js";
import { plannerInputs } from "./plan/inputs.js";
import { desiredInputOf, planChecked } from "./reconcile.js";
import { isDefault } from "./selection/gateway.js";
import type { Health } from "./selection/types.js";

export interface AdoptFacts {
  /** Interfaces a DHCP client other than backhaul's runs on, with what runs there ("dhclient, pid 412"). */
  readonly dhcpClients?: ReadonlyMap<string, string>;
  /** The namespace adopted, for the header (undefined: the one backhaul runs in). */
  readonly netns?: string;
  /** Probe targets to write; by default two public ones, to be replaced. */
  readonly probeTargets?: readonly string[];
  /** backhaul's state directory, written as daemon.stateDir when it is not the default. */
  readonly stateDir?: string;
}

export interface AdoptedUplink {
  readonly name: string;
  readonly iface: string;
  /** The gateway general traffic would take through it now. */
  readonly gateway: string;
}

export type Adoption =
  | { readonly ok: true; readonly text: string; readonly uplinks: readonly AdoptedUplink[] }
  | { readonly ok: false; readonly reason: string };

export const DEFAULT_PROBE_TARGETS = ["tcp://1.1.1.1:443", "tcp://8.8.8.8:443"] as const;

const DEFAULT_STATE_DIR = "/var/lib/backhaul";
const PROTO_DHCP = 16;
const PROTO_OURS = 201;
const TABLES = { min: 100, max: 199 };
const PRIORITIES = { min: 1000, max: 1099 };
/** Biases fall by the step the default biases by kind use (ethernet 100, wifi 80, ...), never below 0. */
const BIAS_TOP = 100;
const BIAS_STEP = 20;

interface Via {
  readonly dev: string;
  readonly gateway: string;
  readonly metric: number;
  readonly protocol: number;
}

/** Default routes of one family in the main table, one per device (its lowest metric), lowest metric first. */
function mainDefaults(s: KernelState, family: 4 | 6): Map<string, Via> {
  const out = new Map<string, Via>();
  const routes = s.route
    .filter((r) => r.family === family && r.table === TABLE_MAIN && r.type === "unicast" && isDefault(r.dst))
    .sort((a, b) => a.metric - b.metric);
  for (const r of routes)
    for (const nh of hops(r))
      if (nh.gateway !== undefined && !out.has(nh.dev))
        out.set(nh.dev, { dev: nh.dev, gateway: nh.gateway, metric: r.metric, protocol: r.protocol });
  return out;
}

function hops(r: Route): { dev: string; gateway?: string }[] {
  if (r.nexthops !== undefined) return r.nexthops.map((n) => ({ dev: n.dev, ...gw(n.gateway) }));
  return r.dev === undefined ? [] : [{ dev: r.dev, ...gw(r.gateway) }];
}
const gw = (g: string | undefined) => (g === undefined ? {} : { gateway: g });

/** Devices with a gateway-less default route (tunnels, point-to-point links) in the main table. */
function devOnlyDefaults(s: KernelState): string[] {
  return s.route
    .filter((r) => r.table === TABLE_MAIN && r.type === "unicast" && isDefault(r.dst))
    .flatMap(hops)
    .filter((h) => h.gateway === undefined)
    .map((h) => h.dev);
}

export interface GeneralRoute {
  readonly dst: string;
  /** The table that decided it (absent when nothing did). */
  readonly table?: number;
  /** "via GW dev DEV" per nexthop (sorted), or the lookup's error. */
  readonly path: string;
  readonly nexthops: readonly { readonly dev: string; readonly gateway?: string }[];
}

/**
 * Destinations that stand for general traffic: covered by no route but a default one, counting the
 * subnets the node's addresses connect (a state need not list those routes).
 */
export function generalDestinations(s: KernelState): string[] {
  const links = new Map(s.link.map((l) => [l.name, l]));
  const connected = s.address.flatMap((a) => {
    const l = links.get(a.dev);
    return l === undefined ? [] : derivedRoutes(a, l);
  });
  return genericDestinations({ ...s, route: [...s.route, ...connected] });
}

/** Where general traffic to `dst` goes in `s`, as the model kernel resolves it. */
export function generalRoute(s: KernelState, dst: string): GeneralRoute {
  const r = lookup(s, { dst });
  if (r.kind === "error") return { dst, path: r.error, nexthops: [] };
  if (r.type !== "unicast") return { dst, table: r.table, path: r.type, nexthops: [] };
  const nexthops = r.nexthops.map((h) => ({ dev: h.dev, ...gw(h.gateway) }));
  const path = nexthops
    .map((h) => `${h.gateway === undefined ? "" : `via ${h.gateway} `}dev ${h.dev}`)
    .sort()
    .join(", ");
  return { dst, table: r.table, path, nexthops };
}

/** A policy name for an interface: lower-case letters, digits and "-", starting with a letter. */
function nameFor(iface: string, taken: Set<string>): string {
  const base = iface
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^[^a-z]+/, "")
    .replace(/-+$/, "")
    .slice(0, 28);
  const stem = base === "" ? "uplink" : base;
  let name = stem;
  for (let i = 2; taken.has(name); i++) name = `${stem}-${i}`;
  taken.add(name);
  return name;
}

/** The first block of `size` numbers from `start`, stepping by `size`, that no foreign object uses. */
function freeBlock(
  preferred: { min: number; max: number },
  used: (n: number) => boolean,
  limit: number,
  avoid: (n: number) => boolean = () => false,
): { min: number; max: number } | undefined {
  const size = preferred.max - preferred.min + 1;
  for (let min = preferred.min; min + size - 1 <= limit; min += size) {
    let clear = true;
    for (let n = min; n < min + size && clear; n++) clear = !used(n) && !avoid(n);
    if (clear) return { min, max: min + size - 1 };
  }
  return undefined;
}

/** Wrapped comment lines for the yaml package (each line gets "#" and this leading space). */
function comment(text: string, width = 96): string {
  const lines: string[] = [];
  for (const para of text.split("\n")) {
    let line = "";
    for (const word of para.split(" ")) {
      if (line !== "" && line.length + 1 + word.length > width) {
        lines.push(line);
        line = word;
      } else line = line === "" ? word : `${line} ${word}`;
    }
    lines.push(line);
  }
  return lines.map((l) => ` ${l}`).join("\n");
}

/** Puts a comment above the key `key` of the mapping at `path` (or above item `key` of a sequence). */
function commentAt(
  doc: Document,
  path: readonly (string | number)[],
  key: string | number,
  text: string,
): void {
  const parent = path.length === 0 ? doc.contents : doc.getIn(path, true);
  let node: Node | undefined;
  if (isSeq(parent) && typeof key === "number") node = parent.items[key] as Node;
  else if (isMap(parent))
    node = parent.items.find((p) => (p.key as { value?: unknown }).value === key)?.key as Node;
  if (node === undefined) throw new Error(`adopt: no ${String(key)} at /${path.join("/")}`);
  node.commentBefore = comment(text);
}

function addressingWords(
  iface: string,
  via: Via | undefined,
  ours: boolean,
  facts: AdoptFacts,
): { addressing: "dhcp" | "external"; why: string } {
  if (ours)
    return {
      addressing: "dhcp",
      why: "Addressed by backhaul's own DHCP client: backhaul keeps running it and routes by its lease.",
    };
  const client = facts.dhcpClients?.get(iface);
  if (client !== undefined)
    return {
      addressing: "external",
      why: `Addressed by a DHCP client that is not backhaul's (${client}): backhaul leaves it to that client and only routes through it.`,
    };
  if (via?.protocol === PROTO_DHCP)
    return {
      addressing: "external",
      why: "Its default route was installed by a DHCP client (proto dhcp), not by backhaul: backhaul leaves the addressing to it and only routes through it.",
    };
  return {
    addressing: "external",
    why: "Its address and default route were set outside backhaul (by hand, a boot script or another agent): backhaul leaves them as they are and only routes through it.",
  };
}

/**
 * The policy for the node in `s`: its uplinks are the interfaces with an IPv4 default route, in the
 * order general traffic uses them now (the one it leaves by, then the others by metric), with explicit
 * biases that keep that order. Refused when there is nothing for backhaul to route.
 */
export function adopt(s: KernelState, facts: AdoptFacts = {}): Adoption {
  const dst4 = generalDestinations(s).find((d) => !d.includes(":"));
  const now = dst4 === undefined ? undefined : generalRoute(s, dst4);
  const v4 = mainDefaults(s, 4);
  const v6 = mainDefaults(s, 6);
  const links = new Map(s.link.map((l) => [l.name, l]));
  if (now === undefined || now.nexthops.length === 0) {
    const reason =
      v6.size > 0
        ? `nothing to adopt: this node has no IPv4 default route, only IPv6 ones (${[...v6.values()].map((v) => `via ${v.gateway} dev ${v.dev}`).join(", ")}); backhaul routes IPv4 general traffic and leaves IPv6 to the main table`
        : "nothing to adopt: this node has no default route, so no uplink to manage; configure at least one uplink (an address and a default route via its gateway) and run adopt again";
    return { ok: false, reason };
  }
  if (now.nexthops.length > 1)
    return {
      ok: false,
      reason: `general traffic is spread over several nexthops by one multipath route (${now.path}); adopt writes failover policies only: write selection.strategy balance by hand (docs/policy.md)`,
    };
  const current = now.nexthops[0]!;
  if (current.gateway === undefined)
    return {
      ok: false,
      reason: `general traffic leaves by ${current.dev} without a gateway (a tunnel or point-to-point route); backhaul routes through gateways only, so it would move that traffic`,
    };

  const ourClients = new Map(
    s["dhcp-client"].flatMap((c) =>
      c.lease?.router === undefined ? [] : [[c.iface, c.lease.router] as const],
    ),
  );
  // Uplinks: the device traffic leaves by now, then the main table's IPv4 defaults by metric, then
  // interfaces backhaul's DHCP client holds a lease with a router on (their routes live in our tables).
  const order: string[] = [current.dev];
  for (const v of v4.values()) if (!order.includes(v.dev)) order.push(v.dev);
  for (const dev of [...ourClients.keys()].sort()) if (!order.includes(dev)) order.push(dev);
  const unnamable = order.filter((d) => !validInterfaceName(d) || !/^[A-Za-z0-9._-]+$/.test(d));
  const devs = order.filter((d) => links.has(d) && !unnamable.includes(d));
  if (!devs.includes(current.dev))
    return {
      ok: false,
      reason: `general traffic leaves by ${current.dev}, which a policy cannot name (interface names are letters, digits, ".", "-", "_")`,
    };

  const taken = new Set<string>();
  const uplinks: AdoptedUplink[] = [];
  const entries: Record<string, unknown>[] = [];
  const notes: { i: number; key?: string; text: string }[] = [];
  const tethers = (l: Link) => l.linkClass === "usb-tether" && l.driver !== undefined;
  devs.forEach((dev, i) => {
    const link = links.get(dev)!;
    const via = v4.get(dev);
    const gateway = dev === current.dev ? current.gateway! : (via?.gateway ?? ourClients.get(dev)!);
    const ours = s["dhcp-client"].some((c) => c.iface === dev);
    // gateway auto finds the main table's lowest-metric default via the device, else our lease's router.
    const auto = (via?.gateway ?? ourClients.get(dev)) === gateway;
    const name = nameFor(dev, taken);
    uplinks.push({ name, iface: dev, gateway });
    const bias = Math.max(0, BIAS_TOP - BIAS_STEP * i);
    const sameDriver = s.link.filter((l) => l.driver === link.driver).length;
    const byDriver = tethers(link) && sameDriver === 1;
    const { addressing, why } = addressingWords(dev, via, ours, facts);
    entries.push({
      name,
      ...(byDriver ? { match: { driver: link.driver } } : { interface: dev }),
      ...(link.linkClass === "other" ? {} : { kind: link.linkClass }),
      addressing,
      gateway: auto ? "auto" : gateway,
      bias,
    });
    const metric = via === undefined ? "" : `, metric ${via.metric}`;
    const where =
      dev === current.dev
        ? `general traffic leaves by it now (via ${gateway}${via?.gateway === gateway && now.table === TABLE_MAIN ? `${metric}, the lowest in the main table` : ` from table ${now.table}`})`
        : via !== undefined
          ? `a default route via ${via.gateway} in the main table${metric}, behind the ones above`
          : `backhaul's DHCP client holds a lease on it with router ${gateway}`;
    const six = v6.get(dev);
    const ipv6 =
      six === undefined
        ? ""
        : ` Its IPv6 default route (via ${six.gateway}, metric ${six.metric}) stays in the main table as it is: backhaul routes IPv4 general traffic, IPv6 keeps following the kernel's routes.`;
    const rank = i === 0 ? "so it comes first" : `preference ${i + 1}`;
    notes.push({ i, text: `${dev}: ${where}; ${rank} (bias ${bias}).${ipv6}` });
    if (byDriver)
      notes.push({
        i,
        key: "match",
        text: `Matched by its driver (${link.driver}), the only interface with it: a tether's name changes when it is plugged in again.`,
      });
    notes.push({ i, key: "addressing", text: why });
    notes.push({
      i,
      key: "gateway",
      text: auto
        ? `auto: ${via !== undefined ? `the gateway of the default route via ${dev} in the main table` : "the router of backhaul's DHCP lease"} (${gateway} now), followed when it changes.`
        : `${gateway}: the gateway general traffic takes now, which the main table does not give for ${dev}.`,
    });
  });

  // What is not an uplink, said once so nobody wonders where it went.
  const left: string[] = [];
  for (const l of [...s.link].sort((a, b) => a.index - b.index)) {
    if (devs.includes(l.name) || l.name === "lo") continue;
    const what = l.linkKind ?? l.linkClass;
    if (unnamable.includes(l.name)) left.push(`${l.name} (${what}: a name a policy cannot hold)`);
    else if (devOnlyDefaults(s).includes(l.name))
      left.push(`${l.name} (${what}: a default route with no gateway)`);
    else if (v6.has(l.name))
      left.push(`${l.name} (${what}: only an IPv6 default route, which stays as it is)`);
    else left.push(`${l.name} (${what}: no default route)`);
  }

  const routing = routingFor(s);
  const targets = facts.probeTargets ?? DEFAULT_PROBE_TARGETS;
  const stateDir =
    facts.stateDir !== undefined && facts.stateDir !== DEFAULT_STATE_DIR ? facts.stateDir : undefined;
  const doc = new Document({
    version: 1,
    uplinks: entries,
    probes: { targets: [...targets], quorum: 1 },
    selection: { strategy: "failover", noUsableUplink: "keep-last" },
    ...(routing === undefined ? {} : { routing }),
    ...(stateDir === undefined ? {} : { daemon: { stateDir } }),
  });
  const namespace = facts.netns === undefined ? "this node" : `network namespace ${facts.netns}`;
  doc.commentBefore = comment(
    [
      `Written by \`backhaul adopt\` from ${namespace} as it is now.`,
      `The uplinks are the interfaces with an IPv4 default route, in the order the kernel uses them now: the default routes' metrics decide it, so general traffic keeps going where it goes (via ${current.gateway} dev ${current.dev}). Under this policy \`backhaul plan\` changes nothing of that route (same uplink, same gateway); what it adds is backhaul's own rules and tables next to the routes that are there, which it never changes.`,
      "Explicit biases keep that order while the uplinks measure alike: the default biases by kind would rank them by kind instead. Real probes still move traffic off an uplink that fails them: that is what backhaul is for.",
      ...(left.length > 0 ? [`Not uplinks, left out: ${left.join(", ")}.`] : []),
      "Before applying: `backhaul validate`, then `backhaul plan` (see docs/adopt.md).",
    ].join("\n"),
  );
  for (const n of notes) {
    if (n.key === undefined) commentAt(doc, ["uplinks"], n.i, n.text);
    else commentAt(doc, ["uplinks", n.i], n.key, n.text);
  }
  commentAt(
    doc,
    [],
    "probes",
    facts.probeTargets === undefined
      ? "Public targets on two networks to start with: replace them with targets you control (docs/policy.md, policy.probes). Each uplink probes them through itself; one that fails its probes stops carrying traffic."
      : "The targets given to adopt. Each uplink probes them through itself; one that fails its probes stops carrying traffic.",
  );
  commentAt(
    doc,
    [],
    "selection",
    "failover: all general traffic through the best uplink, as the kernel's lowest-metric default route does now. keep-last: when no uplink passes its probes, the last route stays.",
  );
  if (routing !== undefined)
    commentAt(
      doc,
      [],
      "routing",
      "Moved off the default ranges (tables 100-199, priorities 1000-1099), which objects that are not backhaul's use on this node.",
    );
  if (stateDir !== undefined)
    commentAt(doc, [], "daemon", "Where backhaul's state (and its DHCP clients' files) were found.");
  for (const key of ["probes", "selection", "routing", "daemon"]) {
    const pair = isMap(doc.contents)
      ? doc.contents.items.find((p) => (p.key as { value?: unknown }).value === key)
      : undefined;
    if (pair !== undefined) (pair.key as Node).spaceBefore = true;
  }
  return { ok: true, text: doc.toString({ lineWidth: 0 }), uplinks };
}

/** Routing ranges free of objects that are not backhaul's; undefined when the defaults are. */
function routingFor(s: KernelState): { tables: object; priorities: object } | undefined {
  const foreignTables = new Set([
    ...s.route.filter((r) => r.protocol !== PROTO_OURS).map((r) => r.table),
    ...s.rule.filter((r) => r.protocol !== PROTO_OURS && r.table !== undefined).map((r) => r.table!),
  ]);
  const foreignPriorities = new Set(s.rule.filter((r) => r.protocol !== PROTO_OURS).map((r) => r.priority));
  const kernelTable = (n: number) => n === 0 || (n >= 253 && n <= 255);
  const tables = freeBlock(TABLES, (n) => foreignTables.has(n), 1_000_000, kernelTable);
  const priorities = freeBlock(PRIORITIES, (n) => foreignPriorities.has(n), 32765);
  if (tables === undefined || priorities === undefined) return undefined;
  if (tables.min === TABLES.min && priorities.min === PRIORITIES.min) return undefined;
  return { tables, priorities };
}

export type AdoptionCheck =
  | { readonly ok: true; readonly routes: readonly GeneralRoute[] }
  | { readonly ok: false; readonly reason: string };

/**
 * The promise of adopt, checked on the model kernel: plan `text` on `s` with the health `healthOf`
 * gives, apply the plan, and general traffic (a generic destination of each family) takes the same
 * device and gateway as before.
 */
export function checkAdoption(
  s: KernelState,
  text: string,
  healthOf: (names: readonly string[]) => Readonly<Record<string, Health>>,
  netns?: string,
): AdoptionCheck {
  const loaded = loadPolicyTexts([{ file: "adopted.yaml", text }]);
  if (!loaded.ok)
    return {
      ok: false,
      reason: `the policy written does not load: ${loaded.diagnostics.map((d) => `${d.pointer}: ${d.summary}`).join("; ")}`,
    };
  const inputs = plannerInputs(loaded.policy, s, netns);
  const health = healthOf(inputs.uplinks.map((u) => u.name));
  const pass = planChecked(desiredInputOf(inputs, s, health), inputs, digest(loaded.policy));
  if (!pass.ok) return { ok: false, reason: `backhaul would not plan it: ${pass.error.message}` };
  const after = applyOps(s, pass.ops);
  if (!after.ok)
    return { ok: false, reason: `its plan fails on the model kernel at step ${after.step}: ${after.error}` };
  const routes: GeneralRoute[] = [];
  for (const dst of generalDestinations(s)) {
    const before = generalRoute(s, dst);
    const then = generalRoute(after.state, dst);
    if (before.path !== then.path)
      return {
        ok: false,
        reason: `general traffic to ${dst} goes ${before.path} now and would go ${then.path} under this policy (${pass.desired.selection.reason})`,
      };
    routes.push(before);
  }
  return { ok: true, routes };
}
