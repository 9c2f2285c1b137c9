// `backhaul verify`: does this policy keep the node online under every failure sequence? The daemon's
// own pure step (core/decide/daemon-step.ts) is driven in simulated time on the model kernel
// (sim.ts) through generated event histories for the policy's own uplinks, and after every pass the
// design's invariants and the policy-level properties are checked. A failing history is shrunk by
// fast-check and replayed into a timeline for people. Pure but for the random source fast-check
// seeds: the same policy and seed give the same answer.
import fc from "fast-check";
import type { EffectivePolicy, Uplink } from "../../policy/types.js";
import { canonicalState, describeObject, emptyState } from "../../kinds/registry.js";
import { dhcpClientOf, dhcpDir, scopeOf } from "../../kinds/services/dhcp-client.js";
import type { Address, KernelState, Link, Route, Rule } from "../../kinds/types.js";
import type { LinkClass } from "../../kinds/link-class.js";
import { checkPlan } from "../invariants.js";
import { invariantContext } from "../reconcile.js";
import { plannerInputs } from "../plan/inputs.js";
import { voluntary } from "../decide/switching.js";
import { periodAt } from "../usage/budget-period.js";
import { record, usageOf, type Account } from "../usage/usage-account.js";
import { digest } from "../../util/canonical.js";
import {
  FAR_END,
  NODE_PROTOCOL,
  advance,
  countersOf,
  delivers,
  fullPass,
  happen,
  lookupIn,
  nextRound,
  runRound,
  startSim,
  usage,
  withConnected,
  works,
  type PolicyVariant,
  type Sim,
  type SimWorld,
  type StepFn,
  type WorldEvent,
} from "./sim.js";

export type PropertyName =
  | "invariants"
  | "reaches-usable-uplink"
  | "switch-limit"
  | "emergency-only"
  | "hotspot-activation"
  | "metered-budget"
  | "probe-cadence"
  | "foreign-kept";

export interface Violation {
  readonly property: PropertyName;
  /** Milliseconds since the history began. */
  readonly at: number;
  readonly message: string;
  /** The policy settings that decide it (JSON pointers). */
  readonly pointers: readonly string[];
}

/** How a history's world starts, beyond the node: where the budgets stand. */
export interface HistorySetup {
  /** Milliseconds from the start to the end of the metered uplinks' first budget period. */
  readonly lead: number;
  /** Per metered uplink, in policy order: milliseconds of traffic its budget has left at the start. */
  readonly remaining: readonly number[];
}

export interface History {
  readonly setup: HistorySetup;
  readonly events: readonly WorldEvent[];
}

export interface Counterexample {
  /** The seed and path that replay it (`--seed S`; fast-check's path of the shrunk case). */
  readonly seed: number;
  readonly path: string;
  readonly setup: HistorySetup;
  readonly events: readonly WorldEvent[];
  /** What happened, for people: "t=3.200s eth0 loses carrier", "t=3.201s switch fibre → lte (physical)". */
  readonly timeline: readonly string[];
  readonly violation: Violation;
}

export type VerifyResult =
  | { readonly ok: true; readonly runs: number; readonly seed: number }
  | {
      readonly ok: false;
      readonly runs: number;
      readonly seed: number;
      readonly counterexample: Counterexample;
    };

/** A node recorded by `backhaul show --json` (core/recorded-state.ts): histories start from it. */
export interface RecordedStart {
  readonly observed: KernelState;
  readonly netns: string | undefined;
}

export interface VerifyOptions {
  readonly runs: number;
  readonly seed: number;
  /** Most events in one history. */
  readonly maxEvents?: number;
  /** The decision step to drive (the daemon's; tests plant broken ones to see them caught). */
  readonly step?: StepFn;
  /** Start from this recorded node instead of one built from the policy. */
  readonly against?: RecordedStart;
}

/** Where simulated time begins when no budget period decides it. */
const T0 = Date.UTC(2026, 0, 1, 0, 0, 0);
const CLASS_OF: Readonly<Record<string, LinkClass>> = {
  ethernet: "ethernet",
  wifi: "wifi",
  lte: "lte",
  "usb-tether": "usb-tether",
  "bt-pan": "bt-pan",
};

const simLink = (name: string, index: number, linkClass: LinkClass): Link => ({
  kind: "link",
  name,
  index,
  linkClass,
  adminUp: true,
  carrier: true,
  operState: "up",
  mtu: 1500,
});

/** The interface an uplink gets in the simulated node: its own, or one its `match` finds. */
function simInterface(u: Uplink, i: number): string {
  if (u.interface !== undefined) return u.interface;
  const name = u.match?.name;
  if (name === undefined) return `sim${i}`;
  // A name the glob matches: each wildcard stands for a digit, a class for its first character.
  return name
    .replace(/\[!?([^\]])[^\]]*\]/g, "$1")
    .replace(/\*/g, String(i))
    .replace(/\?/g, "0");
}

const IPV4 = /^\d+\.\d+\.\d+\.\d+$/;
const octets = (a: string): number[] => a.split("/")[0]!.split(".").map(Number);

/** A node histories start from: its kernel, each policy uplink's interface, the gateway forwarding on each. */
export interface SimNode {
  readonly kernel: KernelState;
  /** In policy order. */
  readonly ifaces: readonly string[];
  readonly gateways: ReadonlyMap<string, string>;
  readonly netns?: string;
}

/**
 * The node a history starts from: every uplink's interface up with an address (a static uplink's
 * own) and a gateway (the policy's, or one in the address's subnet), the default routes a DHCP client
 * or the operator left in the main table, a lease for DHCP uplinks, and the hotspot's interface.
 */
export function simulatedNode(policy: EffectivePolicy): SimNode {
  const links: Link[] = [];
  const addresses: Address[] = [];
  const routes: Route[] = [];
  const gateways = new Map<string, string>();
  const ifaces = policy.uplinks.map(simInterface);
  const clients = [];
  for (const [i, u] of policy.uplinks.entries()) {
    const iface = ifaces[i]!;
    const own = u.addressing === "static" ? u.address : undefined;
    const [a, b, c, d] = octets(own ?? `10.${100 + i}.0.2`) as [number, number, number, number];
    const gw =
      u.gateway !== "auto" && IPV4.test(u.gateway) ? u.gateway : `${a}.${b}.${c}.${own && d === 1 ? 254 : 1}`;
    const [ga, gb, gc, gd] = octets(gw) as [number, number, number, number];
    const local = own ?? `${ga}.${gb}.${gc}.${gd === 2 ? 3 : 2}/24`;
    gateways.set(iface, gw);
    links.push({
      ...simLink(iface, 10 + i, u.kind ?? CLASS_OF[u.match?.kind ?? ""] ?? "ethernet"),
      ...(u.match?.driver === undefined ? {} : { driver: u.match.driver }),
    });
    addresses.push({ kind: "address", family: 4, dev: iface, local, scope: "global" });
    if (u.addressing === "dhcp")
      clients.push({
        ...dhcpClientOf(dhcpDir(policy.daemon.stateDir, scopeOf(undefined)), iface),
        pid: 1000 + i,
        lease: { address: local, router: gw, dns: [gw], seconds: 3600 },
      });
    else
      routes.push({
        kind: "route",
        family: 4,
        table: 254,
        type: "unicast",
        dst: "0.0.0.0/0",
        metric: 100 + i,
        protocol: NODE_PROTOCOL,
        scope: "global",
        gateway: gw,
        dev: iface,
      });
  }
  const h = policy.hotspot;
  if (h !== undefined && !ifaces.includes(h.interface)) {
    links.push(simLink(h.interface, 9, "wifi"));
    addresses.push({ kind: "address", family: 4, dev: h.interface, local: h.address, scope: "global" });
  }
  const kernel = withConnected(
    canonicalState({
      ...emptyState(),
      link: links,
      address: addresses,
      route: routes,
      "dhcp-client": clients,
    }),
  );
  return { kernel, ifaces, gateways };
}

/** A recorded node: each uplink's interface as the policy finds it there; which gateway forwards is unknown. */
export function recordedNode(policy: EffectivePolicy, r: RecordedStart): SimNode {
  const inputs = plannerInputs(policy, r.observed, r.netns);
  return {
    kernel: r.observed,
    ifaces: inputs.uplinks.map((u) => u.iface),
    gateways: new Map(),
    ...(r.netns === undefined ? {} : { netns: r.netns }),
  };
}

const effectiveBias = (p: EffectivePolicy, u: Uplink): number => {
  const kind = u.kind ?? u.match?.kind;
  return u.bias ?? (kind === undefined ? 0 : p.selection.biasByKind[kind]);
};

/**
 * The policies a reload may bring: the preference order reversed (the uplinks listed the other way
 * round, each with the bias its new place had), each uplink removed, and the policy as first loaded.
 */
export function policyVariants(p: EffectivePolicy): PolicyVariant[] {
  const out: { what: string; policy: EffectivePolicy }[] = [
    { what: "back to the policy as first loaded", policy: p },
  ];
  if (p.uplinks.length > 1) {
    const biases = p.uplinks.map((u) => effectiveBias(p, u)).sort((a, b) => b - a);
    const reversed = [...p.uplinks].reverse().map((u, i) => ({ ...u, bias: biases[i]! }));
    out.push({
      what: `preference order ${reversed.map((u) => u.name).join(" > ")}`,
      policy: { ...p, uplinks: reversed },
    });
    for (const u of p.uplinks)
      out.push({ what: `${u.name} removed`, policy: { ...p, uplinks: p.uplinks.filter((x) => x !== u) } });
  }
  return out.map((v) => ({ ...v, digest: digest(v.policy) }));
}

/** Rules and routes other software puts beside ours: outside our priorities and tables, not ours by protocol. */
export function foreignObjects(policy: EffectivePolicy, node: SimNode): (Rule | Route)[] {
  const { priorities, tables } = policy.routing;
  const table = (n: number) => (tables.min > 60 ? 50 + n : tables.max + 1 + n);
  const devs = node.ifaces.filter((i) => node.kernel.link.some((l) => l.name === i)).slice(0, 2);
  const rule = (priority: number, n: number): Rule => ({
    kind: "rule",
    family: 4,
    priority,
    from: `10.99.${n}.0/24`,
    action: "lookup",
    table: table(n),
    protocol: 3,
  });
  const route = (t: number, dst: string, dev: string | undefined): Route => ({
    kind: "route",
    family: 4,
    table: t,
    type: dev === undefined ? "blackhole" : "unicast",
    dst,
    metric: 0,
    protocol: 3,
    scope: dev === undefined ? "global" : "link",
    ...(dev === undefined ? {} : { dev }),
  });
  return [0, 1].flatMap((n) => [
    ...(priorities.min - 1 - n > 0 ? [rule(priorities.min - 1 - n, n)] : []),
    ...(priorities.max + 1 + n < 32766 ? [rule(priorities.max + 1 + n, n)] : []),
    ...devs.flatMap((dev, i) => [
      route(table(n), "0.0.0.0/0", dev),
      route(254, `10.98.${2 * n + i}.0/24`, dev),
    ]),
    route(254, `10.97.${n}.0/24`, undefined),
  ]);
}

/** What the generator knows of an uplink's addressing to make its address, gateway and lease changes. */
interface Addressing {
  readonly iface: string;
  readonly kind: "external" | "dhcp";
  /** The gateway the policy names (its subnet is kept), or undefined: the subnet may move. */
  readonly literal?: string;
  readonly base: readonly number[];
}

type RawEvent =
  | WorldEvent
  | {
      readonly dt: number;
      readonly type: "renumber";
      readonly iface: string;
      readonly subnet: number;
      readonly host: number;
    }
  | { readonly dt: number; readonly type: "router"; readonly iface: string; readonly host: number }
  | {
      readonly dt: number;
      readonly type: "renew";
      readonly iface: string;
      readonly lost: boolean;
      readonly subnet: number;
      readonly host: number;
    };

/** Addresses and gateways as they follow from one another in order: each change within the subnet it is in. */
function resolved(raw: readonly RawEvent[], by: ReadonlyMap<string, Addressing>): WorldEvent[] {
  const at = new Map(
    [...by].map(([i, a]) => [i, { c: a.base[2]!, gw: a.literal ? octets(a.literal)[3]! : 1 }]),
  );
  const place = (a: Addressing, subnet: number, host: number) => {
    const s = at.get(a.iface)!;
    if (a.literal === undefined) Object.assign(s, { c: (a.base[2]! + subnet) % 256, gw: 1 });
    const h = host === s.gw ? (host % 253) + 2 : host;
    const net = `${a.base[0]}.${a.base[1]}.${s.c}`;
    return { address: `${net}.${h}/24`, gateway: a.literal ?? `${net}.${s.gw}` };
  };
  return raw.map((e): WorldEvent => {
    if (e.type !== "renumber" && e.type !== "router" && e.type !== "renew") return e;
    const a = by.get(e.iface)!;
    const { dt, iface } = e;
    if (e.type === "router") {
      const s = at.get(iface)!;
      s.gw = e.host;
      return { dt, type: "gateway", iface, gateway: `${a.base[0]}.${a.base[1]}.${s.c}.${e.host}` };
    }
    const p = place(a, e.subnet, e.host);
    if (e.type === "renumber")
      return { dt, type: "address", iface, address: p.address, ...(a.literal ? {} : { gateway: p.gateway }) };
    return e.lost
      ? { dt, type: "lease", iface }
      : { dt, type: "lease", iface, lease: { address: p.address, router: p.gateway } };
  });
}

/**
 * World events over the uplinks' interfaces: carrier changes, gray failures (the far end stops or
 * resumes answering), periodic passes, address and gateway changes of uplinks the network addresses,
 * lease renewals and losses of DHCP uplinks, the node going on battery and back, foreign rules and
 * routes, and reloads to a variant of the policy. Probe rounds are not generated: the prober's come
 * as its loops run (play below), as in the daemon.
 */
export function worldEvents(
  policy: EffectivePolicy,
  node: SimNode,
  maxEvents: number,
  maxGapMs: number,
): fc.Arbitrary<WorldEvent[]> {
  const present = node.ifaces.filter((i) => node.kernel.link.some((l) => l.name === i));
  const iface = fc.constantFrom(...present);
  const dt = fc.integer({ min: 0, max: maxGapMs });
  const by = new Map<string, Addressing>();
  policy.uplinks.forEach((u, i) => {
    const name = node.ifaces[i]!;
    if (!present.includes(name) || u.addressing === "static") return;
    const addr = node.kernel.address.find((a) => a.dev === name && a.family === 4);
    const literal = u.gateway !== "auto" && IPV4.test(u.gateway) ? u.gateway : undefined;
    const base = octets(literal ?? addr?.local ?? `10.${100 + i}.0.2`);
    by.set(name, { iface: name, kind: u.addressing, ...(literal ? { literal } : {}), base });
  });
  const external = [...by.values()].filter((a) => a.kind === "external").map((a) => a.iface);
  const routed = [...by.values()].filter((a) => a.kind === "external" && !a.literal).map((a) => a.iface);
  const dhcp = [...by.values()].filter((a) => a.kind === "dhcp").map((a) => a.iface);
  const subnet = fc.integer({ min: 0, max: 2 });
  const host = fc.integer({ min: 2, max: 250 });
  const foreign = foreignObjects(policy, node);
  const variants = policyVariants(policy).length;
  const some = <T>(list: readonly T[], weight: number, arb: () => fc.Arbitrary<RawEvent>) =>
    list.length > 0 ? [{ weight, arbitrary: arb() }] : [];
  const event: fc.Arbitrary<RawEvent> = fc.oneof(
    {
      weight: 6,
      arbitrary: fc.record({ dt, type: fc.constant("carrier" as const), iface, up: fc.boolean() }),
    },
    {
      weight: 6,
      arbitrary: fc.record({ dt, type: fc.constant("answers" as const), iface, answers: fc.boolean() }),
    },
    { weight: 2, arbitrary: fc.record({ dt, type: fc.constant("periodic" as const) }) },
    ...some(external, 1, () =>
      fc.record({
        dt,
        type: fc.constant("renumber" as const),
        iface: fc.constantFrom(...external),
        subnet,
        host,
      }),
    ),
    ...some(routed, 1, () =>
      fc.record({ dt, type: fc.constant("router" as const), iface: fc.constantFrom(...routed), host }),
    ),
    ...some(dhcp, 1, () =>
      fc.record({
        dt,
        type: fc.constant("renew" as const),
        iface: fc.constantFrom(...dhcp),
        lost: fc.boolean(),
        subnet,
        host,
      }),
    ),
    ...some(policy.probes.batteryFactor > 1 ? [1] : [], 1, () =>
      fc.record({ dt, type: fc.constant("battery" as const), on: fc.boolean() }),
    ),
    ...some(foreign, 1, () =>
      fc.record({ dt, type: fc.constant("foreign" as const), object: fc.constantFrom(...foreign) }),
    ),
    ...some(variants > 1 ? [1] : [], 1, () =>
      fc.record({
        dt,
        type: fc.constant("reload" as const),
        variant: fc.integer({ min: 0, max: variants - 1 }),
      }),
    ),
  );
  return fc.array(event, { maxLength: maxEvents }).map((raw) => resolved(raw, by));
}

class PropertyFailed extends Error {
  constructor(readonly violation: Violation) {
    super(violation.message);
  }
}

const secs = (ms: number) => `${(ms / 1000).toFixed(3)}s`;
const size = (n: number) =>
  n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(1)} GiB` : `${(n / 2 ** 20).toFixed(1)} MiB`;

/** The interfaces general traffic leaves the node by (several under balance); `protocol`: by such routes only. */
function carriers(k: KernelState, protocol?: number): string[] {
  const r = lookupIn(k, { dst: FAR_END });
  if (r.kind !== "route" || (protocol !== undefined && r.route.protocol !== protocol)) return [];
  return r.nexthops.map((h) => h.dev);
}

/** The interface of a policy uplink in the node, by name (the node holds every uplink of the file). */
const ifaceIn = (file: EffectivePolicy, node: SimNode) => (name: string) =>
  node.ifaces[file.uplinks.findIndex((u) => u.name === name)];

/** Check the properties on every pass the history produced; the earliest violation, if any. */
function check(file: EffectivePolicy, sim: Sim, start: number): Violation | undefined {
  const uplinkIndex = (name: string) => file.uplinks.findIndex((u) => u.name === name);
  const found: Violation[] = [];
  if (sim.lostForeign !== undefined)
    found.push({
      property: "foreign-kept",
      at: sim.lostForeign.at - start,
      message: `a foreign ${sim.lostForeign.object.kind} (${describeObject(sim.lostForeign.object)}) was taken away by the daemon`,
      pointers: ["/routing/protocol", "/routing/priorities", "/routing/tables"],
    });
  // The design's invariants after every op prefix of every plan the step asked for.
  for (const t of sim.transactions) {
    const v = checkPlan(t.before, t.ops, invariantContext(t.inputs, t.before, t.usable));
    if (!v.ok) {
      found.push({
        property: "invariants",
        at: t.at - start,
        message: `after op ${v.step} of ${t.ops.length}: ${v.violations.map((x) => `${x.invariant}: ${x.message}`).join("; ")}`,
        pointers: ["/routing"],
      });
      break;
    }
  }
  // Every probe loop at the policy's cadence: its interval, stretched on metered uplinks and on battery.
  for (const c of sim.probes) {
    const pr = c.policy.probes;
    const wrong = c.assignments.find((a) => {
      const metered = c.policy.uplinks.find((u) => u.name === a.name)?.metered !== undefined;
      return (
        a.intervalMs !== pr.interval * (metered ? pr.meteredFactor : 1) * (c.battery ? pr.batteryFactor : 1)
      );
    });
    if (wrong !== undefined) {
      const metered = c.policy.uplinks.find((u) => u.name === wrong.name)?.metered !== undefined;
      found.push({
        property: "probe-cadence",
        at: c.at - start,
        message: `${wrong.name} is probed every ${secs(wrong.intervalMs)} ${c.battery ? "on battery" : "on mains power"}, not as the policy says`,
        pointers: [
          "/probes/interval",
          ...(c.battery ? ["/probes/batteryFactor"] : []),
          ...(metered ? ["/probes/meteredFactor"] : []),
        ],
      });
      break;
    }
  }
  const switches: number[] = [];
  for (const p of sim.passes) {
    const at = p.at - start;
    const r = p.result;
    const policy = p.policy;
    const use = (n: string) => policy.uplinks.find((u) => u.name === n)?.use;
    if (r.outcome === "failed" && r.error?.startsWith("planning failed") === true) {
      found.push({
        property: "invariants",
        at,
        message: `no plan keeps the invariants: ${r.error}`,
        pointers: ["/routing", "/selection/noUsableUplink"],
      });
      break;
    }
    if (r.outcome !== "applied" && r.outcome !== "no-change") continue;
    const sel = r.selection;
    if (sel === undefined) continue;
    const ifaceOf = (n: string) => p.state.inputs?.uplinks.find((u) => u.name === n)?.iface;
    const usable = sel.verdicts.filter((v) => v.usable).map((v) => v.name);
    const devs = carriers(p.kernel);
    const dev = devs[0];
    const fail = (v: Omit<Violation, "at">) => found.push({ ...v, at });
    if (usable.length > 0 && !usable.some((n) => ifaceOf(n) === dev)) {
      fail({
        property: "reaches-usable-uplink",
        message: `${usable.join(", ")} usable, but general traffic ${dev === undefined ? "has no route" : `leaves by ${dev}`}`,
        pointers: ["/selection/strategy", ...usable.map((n) => `/uplinks/${uplinkIndex(n)}`)],
      });
      break;
    }
    // Leaving a fallback (emergency-only, or its budget spent) for a primary uplink is what the policy
    // demands, and a policy change is not churn: neither is a choice the switch limit may hold back.
    const fromFallback = (p.before?.active ?? []).some(
      (a) => sel.verdicts.find((v) => v.name === a.name)?.tier === "fallback",
    );
    if (
      r.switched !== undefined &&
      r.switched.cause !== "start" &&
      r.switched.cause !== "policy" &&
      !fromFallback &&
      voluntary(p.before, sel)
    ) {
      switches.push(p.at);
      const { switches: most, window } = policy.selection.rateLimit;
      const recent = switches.filter((t) => p.at - t < window);
      if (recent.length > most) {
        fail({
          property: "switch-limit",
          message: `${recent.length} voluntary switches within ${secs(window)}, more than the limit of ${most}`,
          pointers: ["/selection/rateLimit"],
        });
        break;
      }
    }
    const spent = (n: string) => {
      const u = p.usage[n];
      return (
        u !== undefined && (u.exhausted || (u.budgetBytes !== undefined && u.usedBytes >= u.budgetBytes))
      );
    };
    const onExhausted = (n: string) => policy.uplinks.find((u) => u.name === n)?.metered?.onExhausted;
    // A normal uplink that may carry traffic as any other: not emergency-only, its budget not spent (or kept).
    const normal = (n: string) => use(n) === "normal" && (!spent(n) || onExhausted(n) === "keep");
    const normalUsable = usable.filter(normal);
    const emergency = sel.active.filter((a) => use(a.name) === "emergency-only");
    if (emergency.length > 0 && normalUsable.length > 0) {
      fail({
        property: "emergency-only",
        message: `emergency-only ${emergency.map((a) => a.name).join(", ")} carries traffic while ${normalUsable.join(", ")} is usable`,
        pointers: emergency.map((a) => `/uplinks/${uplinkIndex(a.name)}/use`),
      });
      break;
    }
    // By our routes: the main table's defaults, which the operator or a DHCP client left, are not ours.
    const routed = carriers(p.kernel, p.state.inputs?.routing.protocol);
    const overspent = policy.uplinks.find((u) => {
      if (u.metered === undefined || !spent(u.name) || !routed.includes(ifaceOf(u.name) ?? "")) return false;
      if (u.metered.onExhausted === "never") return true;
      return u.metered.onExhausted === "emergency-only" && usable.some((n) => n !== u.name && normal(n));
    });
    if (overspent?.metered !== undefined) {
      const i = uplinkIndex(overspent.name);
      const u = p.usage[overspent.name]!;
      const others = usable.filter((n) => n !== overspent.name && normal(n));
      fail({
        property: "metered-budget",
        message: `${overspent.name} has used ${size(u.usedBytes)} of its ${size(overspent.metered.budget)} budget (onExhausted: ${overspent.metered.onExhausted}), but general traffic leaves by ${ifaceOf(overspent.name)}${others.length > 0 ? ` while ${others.join(", ")} is usable` : ""}`,
        pointers: [
          `/uplinks/${i}/metered/onExhausted`,
          `/uplinks/${i}/metered/budget`,
          ...(sel.noneUsable !== undefined ? ["/selection/noUsableUplink"] : []),
        ],
      });
      break;
    }
    const h = policy.hotspot;
    const act = p.state.hotspot?.activation;
    if (h !== undefined && act !== undefined && p.kernel.link.some((l) => l.name === h.interface)) {
      const running = p.kernel.hostapd.some((x) => x.iface === h.interface);
      if (running !== act.up) {
        fail({
          property: "hotspot-activation",
          message: `the hotspot should be ${act.up ? "up" : "down"} (${act.why}) but its access point ${running ? "runs" : "does not run"}`,
          pointers: ["/hotspot/activate", "/hotspot/holdDown"],
        });
        break;
      }
    }
  }
  return found.sort((a, b) => a.at - b.at)[0];
}

/**
 * How long an uplink must have been working (carrier, answers) before general traffic must be able to
 * leave by a working uplink: the probes' verdicts and every hold-down on the way, with rounds to spare.
 * A round comes at the slowest cadence the policy allows: stretched on metered uplinks and on battery.
 */
export function reachBoundMs(policy: EffectivePolicy): number {
  const p = policy.probes;
  const h = p.holdDown;
  const slowest =
    (policy.uplinks.some((u) => u.metered !== undefined) ? p.meteredFactor : 1) * p.batteryFactor;
  const round = p.interval * slowest + p.timeout;
  const holds = h.upToDegraded + h.degradedToDown + h.downToProbing + h.probingToUp;
  return holds + 2 * p.minStateDuration + (p.failuresBeforeDown + p.successesToRecover + 3) * round;
}

/** Every history ends with a quiet spell of twice the reach bound, so what it led to is seen. */
function withSettling(policy: EffectivePolicy, events: readonly WorldEvent[]): WorldEvent[] {
  return [...events, { dt: 2 * reachBoundMs(policy), type: "periodic" }];
}

/** Play the history: its events, with the prober's rounds as its loops come due. */
function play(
  sim: Sim,
  events: readonly WorldEvent[],
  onTick: () => void,
  onEvent: (e: WorldEvent, at: number) => void = () => undefined,
): void {
  for (const e of events) {
    const until = sim.now + e.dt;
    for (let r = nextRound(sim); r !== undefined && r.at <= until; r = nextRound(sim)) {
      advance(sim, r.at);
      runRound(sim, r.iface);
      onTick();
    }
    onEvent(e, until);
    happen(sim, { ...e, dt: until - sim.now });
    onTick();
  }
}

/**
 * The world's truth, checked at every moment: once some uplink the policy in force may use has worked
 * for the reach bound, general traffic gets through a working uplink, whatever the daemon believes.
 */
function truthChecker(file: EffectivePolicy, node: SimNode, sim: Sim, start: number) {
  const bound = reachBoundMs(file);
  const ifaceOf = ifaceIn(file, node);
  const since = new Map<string, number>();
  let badSince: number | undefined;
  let before = new Set<string | undefined>(node.ifaces);
  return (): Violation | undefined => {
    for (const i of node.ifaces) {
      if (!works(sim, i)) since.delete(i);
      else if (!since.has(i)) since.set(i, sim.now);
    }
    const spent = usage(sim);
    const allowed = new Map(
      sim.onDisk.uplinks
        .filter(
          (u) =>
            u.use !== "never" && !(u.metered?.onExhausted === "never" && spent[u.name]?.exhausted === true),
        )
        .map((u) => [ifaceOf(u.name), u.name]),
    );
    // An uplink a reload brings (back) is judged afresh by the daemon: it has the bound from then on.
    for (const i of allowed.keys())
      if (i !== undefined && !before.has(i) && since.has(i)) since.set(i, sim.now);
    before = new Set(allowed.keys());
    const long = [...since].filter(([i, t]) => allowed.has(i) && sim.now - t >= bound).map(([i]) => i);
    const r = lookupIn(sim.kernel, { dst: FAR_END });
    const dev = r.kind === "route" ? r.nexthops[0]?.dev : undefined;
    // Traffic that gets through an uplink the policy lets it use is fine; any other gets the bound
    // to be moved.
    const by = delivers(sim, r);
    if (by !== undefined && allowed.has(by)) {
      badSince = undefined;
      return undefined;
    }
    badSince ??= sim.now;
    if (long.length === 0 || sim.now - badSince < bound) return undefined;
    const names = long.map((i) => allowed.get(i) ?? i);
    return {
      property: "reaches-usable-uplink",
      at: sim.now - start,
      message: `${names.join(", ")} has worked for ${secs(bound)} or more, but general traffic ${dev === undefined ? "has had no route" : `has left by ${dev}, which ${by === undefined ? "does not get it through" : "the policy does not let it use"},`} for ${secs(sim.now - badSince)}`,
      // What keeps a working uplink from being chosen, or traffic from staying: written lines only show.
      pointers: [
        "/selection/noUsableUplink",
        "/selection/maxRtt",
        "/selection/maxLoss",
        "/selection/thresholds",
        "/probes/holdDown",
        ...names.map((n) => `/uplinks/${file.uplinks.findIndex((u) => u.name === n)}`),
      ],
    };
  };
}

/** When a history starts: its lead before the end of the first metered uplink's budget period. */
function startOf(policy: EffectivePolicy, setup: HistorySetup): number {
  const ends = policy.uplinks.flatMap((u) => (u.metered === undefined ? [] : [periodAt(u.metered, T0).end]));
  return ends.length === 0 ? T0 : Math.min(...ends) - setup.lead;
}

/**
 * The world beyond the node: the gateways, the variants a reload may bring, and for each metered uplink
 * a ledger with what its budget has left and the traffic rate that spends a whole budget in ten bounds.
 */
function worldOf(file: EffectivePolicy, node: SimNode, setup: HistorySetup, start: number): SimWorld {
  const bound = reachBoundMs(file);
  const rates = new Map<string, number>();
  const accounts = new Map<string, Account>();
  file.uplinks
    .filter((u) => u.metered !== undefined)
    .forEach((u, k) => {
      const m = u.metered!;
      const iface = ifaceIn(file, node)(u.name)!;
      const rate = m.budget / (10 * bound);
      rates.set(iface, rate);
      const link = node.kernel.link.find((l) => l.name === iface);
      accounts.set(u.name, {
        period: periodAt(m, start),
        countedBytes: Math.max(0, Math.round(m.budget - rate * (setup.remaining[k] ?? 0))),
        probeBytes: 0,
        ...(link === undefined
          ? {}
          : { last: { iface, ifindex: link.index, bootId: "sim", rxBytes: 0, txBytes: 0 } }),
      });
    });
  return {
    gateways: node.gateways,
    rates,
    accounts,
    variants: policyVariants(file),
    ...(node.netns === undefined ? {} : { netns: node.netns }),
  };
}

interface Hooks {
  readonly onTick?: (sim: Sim) => void;
  readonly onEvent?: (sim: Sim, e: WorldEvent, at: number) => void;
}

/** Run one history; the sim it leaves and its first violation, if any. */
function simulate(
  file: EffectivePolicy,
  node: SimNode,
  h: History,
  stepFn: StepFn | undefined,
  hooks: Hooks = {},
): { sim: Sim; start: number; violation: Violation | undefined } {
  const start = startOf(file, h.setup);
  const sim = startSim(file, node.kernel, start, stepFn, worldOf(file, node, h.setup, start));
  fullPass(sim, "start");
  const truth = truthChecker(file, node, sim, start);
  let first: Violation | undefined;
  hooks.onTick?.(sim);
  play(
    sim,
    withSettling(file, h.events),
    () => {
      first ??= truth();
      hooks.onTick?.(sim);
    },
    (e, at) => hooks.onEvent?.(sim, e, at),
  );
  // The end of the history: a pass with everything that happened known.
  fullPass(sim, "end");
  hooks.onTick?.(sim);
  const found = [check(file, sim, start), first].filter((x): x is Violation => x !== undefined);
  return { sim, start, violation: found.sort((a, b) => a.at - b.at)[0] };
}

/** What one world event looks like to people. */
function describeEvent(
  e: WorldEvent,
  who: (iface: string) => string,
  variants: readonly PolicyVariant[],
): string | undefined {
  switch (e.type) {
    case "carrier":
      return `${who(e.iface)} ${e.up ? "gets its carrier back" : "loses carrier"}`;
    case "answers":
      return `${who(e.iface)} ${e.answers ? "answers again" : "stops answering (gray failure)"}`;
    case "address":
      return `${who(e.iface)} address now ${e.address}${e.gateway === undefined ? "" : ` via ${e.gateway}`}`;
    case "gateway":
      return `${who(e.iface)} gateway now ${e.gateway}`;
    case "lease":
      return e.lease === undefined
        ? `${who(e.iface)} lease lost`
        : `${who(e.iface)} lease renewed: ${e.lease.address} via ${e.lease.router}`;
    case "battery":
      return e.on ? "the node runs on battery" : "the node runs on mains power again";
    case "foreign":
      return `a foreign ${e.object.kind} appears: ${describeObject(e.object)}`;
    case "reload":
      return `policy reloaded: ${variants[e.variant]?.what ?? "unchanged"}`;
    default:
      return undefined;
  }
}

/** The history as people read it: what happened to the node, and what the daemon did. */
function timelineOf(file: EffectivePolicy, node: SimNode, h: History, stepFn?: StepFn): string[] {
  const names = new Map(file.uplinks.map((u, i) => [node.ifaces[i]!, u.name]));
  const who = (i: string) => `${names.get(i) ?? i} (${i})`;
  const out: string[] = [];
  let start = 0;
  let seen = 0;
  const budgets = new Map<string, { exhausted: boolean; period: number }>();
  const t = (sim: Sim) => `t=${secs(sim.now - start)}`;
  const onTick = (sim: Sim) => {
    if (out.length === 0) {
      start = sim.now;
      out.push(
        `t=0.000s ${file.uplinks
          .map((u, i) => `${u.name} (${node.ifaces[i]}) ${works(sim, node.ifaces[i]!) ? "up" : "down"}`)
          .join(", ")}`,
      );
    }
    // The budgets as the interfaces' counters say, whether or not the daemon has sampled them yet.
    for (const u of file.uplinks) {
      const m = u.metered;
      const acc = sim.accounts.get(u.name);
      if (m === undefined || acc === undefined) continue;
      const x = usageOf(
        record(acc, m, countersOf(sim, ifaceIn(file, node)(u.name)), sim.now),
        m,
        m.budget,
        sim.now,
      );
      const b = budgets.get(u.name);
      if (b === undefined)
        out.push(
          `${t(sim)} ${u.name} has used ${size(x.usedBytes)} of its ${size(m.budget)} budget; the period ends at t=${secs(x.period.end - start)}`,
        );
      else if (b.period !== x.period.start)
        out.push(`${t(sim)} ${u.name}'s budget period ends: a new one begins with nothing used`);
      else if (x.exhausted && !b.exhausted)
        out.push(`${t(sim)} ${u.name} has used up its ${size(m.budget)} budget`);
      budgets.set(u.name, { exhausted: x.exhausted, period: x.period.start });
    }
    for (const p of sim.passes.slice(seen)) {
      const r = p.result;
      const at = `t=${secs(p.at - start)}`;
      if (r.switched !== undefined)
        out.push(
          `${at} switch ${r.switched.from.join("+") || "none"} → ${r.switched.to.join("+") || "none"} (${r.switched.cause}): ${r.switched.reason}`,
        );
      else if (r.outcome !== "no-change" && r.outcome !== "applied")
        out.push(`${at} pass ${r.outcome}: ${r.error ?? ""}`);
    }
    seen = sim.passes.length;
  };
  const variants = policyVariants(file);
  simulate(file, node, h, stepFn, {
    onTick,
    onEvent: (_sim, e, at) => {
      const text = describeEvent(e, who, variants);
      if (text !== undefined) out.push(`t=${secs(at - start)} ${text}`);
    },
  });
  return out;
}

export function verifyPolicy(policy: EffectivePolicy, o: VerifyOptions): VerifyResult {
  const node = o.against === undefined ? simulatedNode(policy) : recordedNode(policy, o.against);
  const bound = reachBoundMs(policy);
  const metered = policy.uplinks.filter((u) => u.metered !== undefined).length;
  // Gaps up to a little more than the reach bound: long enough for every hold-down to run out.
  const arb: fc.Arbitrary<History> = fc.record({
    setup: fc.record({
      lead: metered === 0 ? fc.constant(0) : fc.integer({ min: 0, max: 20 * bound }),
      remaining: fc.array(fc.integer({ min: 0, max: 4 * bound }), { minLength: metered, maxLength: metered }),
    }),
    events: worldEvents(policy, node, o.maxEvents ?? 24, Math.ceil(bound * 1.2)),
  });
  const r = fc.check(
    fc.property(arb, (h) => {
      const v = simulate(policy, node, h, o.step).violation;
      if (v !== undefined) throw new PropertyFailed(v);
    }),
    { numRuns: o.runs, seed: o.seed },
  );
  if (!r.failed) return { ok: true, runs: r.numRuns, seed: o.seed };
  const h = r.counterexample?.[0];
  const violation = h === undefined ? undefined : simulate(policy, node, h, o.step).violation;
  if (h === undefined || violation === undefined)
    throw r.errorInstance instanceof Error
      ? r.errorInstance
      : new Error("the shrunk counterexample did not fail again");
  return {
    ok: false,
    runs: r.numRuns,
    seed: o.seed,
    counterexample: {
      seed: o.seed,
      path: r.counterexamplePath ?? "",
      setup: h.setup,
      events: h.events,
      timeline: [
        ...timelineOf(policy, node, h, o.step),
        `t=${secs(violation.at)} VIOLATED ${violation.property}: ${violation.message}`,
      ],
      violation,
    },
  };
}
