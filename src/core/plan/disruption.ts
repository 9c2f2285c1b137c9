// What each op of an ordered plan does to traffic, judged on the state right before it.
// Classes, mildest first: none (a new object nothing uses yet), in-place (an object in use changes
// atomically), traffic-switch (general traffic moves to another path), flap (an interface or service
// goes down and up), management-path (the route to the operator's SSH peer changes). An op gets the
// strongest class that applies.
import { canonicalJson } from "../../util/canonical.js";
import ipaddr from "ipaddr.js";
import { isCatchAll } from "../../kinds/ip/rules.js";
import type { KernelObject, KernelState, Link, Op, Rule } from "../../kinds/types.js";
import { isDefault } from "../selection/gateway.js";
import { StateIndex } from "../model-kernel/by-key.js";

export const DISRUPTIONS = ["none", "in-place", "traffic-switch", "flap", "management-path"] as const;
export type Disruption = (typeof DISRUPTIONS)[number];

/** Answers which route carries traffic to dst in a state; the lead wires the model kernel's lookup. */
export type RouteFor = (state: KernelState, dst: string) => unknown;

export interface DisruptionContext {
  /** The operator's SSH peer address (from SSH_CONNECTION). */
  readonly managementPeer?: string;
  readonly routeFor?: RouteFor;
}

/** Tables the kernel always consults (local, main, default). */
const BUILTIN_TABLES = new Set([253, 254, 255]);

class Counter {
  private readonly m = new Map<string, number>();
  bump(k: string, d: number): void {
    this.m.set(k, (this.m.get(k) ?? 0) + d);
  }
  has(k: string): boolean {
    return (this.m.get(k) ?? 0) > 0;
  }
}

const rank = (d: Disruption): number => DISRUPTIONS.indexOf(d);
const worst = (a: Disruption, b: Disruption): Disruption => (rank(a) >= rank(b) ? a : b);

export function classify(start: KernelState, ops: readonly Op[], ctx: DisruptionContext = {}): Disruption[] {
  const ix = new StateIndex(start);
  const refs = new Counter();
  const catchAll = new Counter();
  const track = (r: Rule, d: number): void => {
    if (r.action !== "lookup" || r.table === undefined) return;
    refs.bump(`${r.family} ${r.table}`, d);
    if (isCatchAll(r)) catchAll.bump(`${r.family} ${r.table}`, d);
  };
  for (const r of start.rule) track(r, 1);
  const peer =
    ctx.managementPeer !== undefined && ctx.routeFor !== undefined
      ? normalPeer(ctx.managementPeer)
      : undefined;
  // Ops that cannot move the peer's route are skipped: the answer before them still holds after.
  let peerRoute = peer === undefined ? "" : canonicalJson(ctx.routeFor!(start, peer));

  return ops.map((op, step) => {
    let d = structural(op, refs, catchAll);
    const o = op.op === "delete" ? op.before : op.after;
    if (o.kind === "rule") {
      if (op.op !== "add") track(op.before as Rule, -1);
      if (op.op !== "delete") track(op.after as Rule, 1);
    }
    ix.apply(op, step);
    if (peer !== undefined && mayMovePeer(o, peer)) {
      const answer = canonicalJson(ctx.routeFor!(ix.snapshot(), peer));
      if (answer !== peerRoute) d = worst(d, "management-path");
      peerRoute = answer;
    }
    return d;
  });
}

/** SSH_CONNECTION may give an IPv4 peer as "::ffff:a.b.c.d": route lookups need the IPv4 form. */
function normalPeer(peer: string): string {
  if (!ipaddr.isValid(peer)) throw new Error(`management peer "${peer}" is not an IP address`);
  return ipaddr.process(peer).toString();
}

/** Only a route covering the peer, or a rule, link or address, can change how the peer is reached. */
function mayMovePeer(o: KernelObject, peer: string): boolean {
  if (o.kind === "rule" || o.kind === "link" || o.kind === "address") return true;
  if (o.kind !== "route") return false;
  const [net, len] = ipaddr.parseCIDR(o.dst);
  const addr = ipaddr.parse(peer);
  return net.kind() === addr.kind() && addr.match([net, len]);
}

function structural(op: Op, refs: Counter, catchAll: Counter): Disruption {
  const o = op.op === "delete" ? op.before : op.after;
  switch (o.kind) {
    case "hostapd":
    case "dnsmasq":
    case "dhcp-client":
      return op.op === "add" ? "none" : "flap";
    case "link": {
      if (op.op !== "change") return "in-place";
      const b = op.before as Link;
      return b.adminUp !== o.adminUp || b.mtu !== o.mtu ? "flap" : "in-place";
    }
    case "address":
      return op.op === "add" ? "none" : "flap";
    case "route": {
      const t = `${o.family} ${o.table}`;
      if (isDefault(o.dst) && catchAll.has(t)) return "traffic-switch";
      if (!refs.has(t) && !BUILTIN_TABLES.has(o.table)) return "none";
      return "in-place";
    }
    case "rule":
      return isCatchAll(o) ? "traffic-switch" : "in-place";
    case "class":
      return op.op === "add" ? "none" : "in-place";
    default:
      return "in-place";
  }
}
