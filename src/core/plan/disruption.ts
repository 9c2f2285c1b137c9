// What each op of an ordered plan does to traffic, judged on the state right before it.
// Classes, mildest first: none (a new object nothing uses yet), in-place (an object in use changes
// atomically), traffic-switch (general traffic moves to another path), flap (an interface or service
// goes down and up), management-path (the route to the operator's SSH peer changes). An op gets the
// strongest class that applies.
import { canonicalJson } from "../../util/canonical.js";
import ipaddr from "ipaddr.js";
import { DISRUPTIONS, type Disruption, type DisruptionFacts } from "../../kinds/driver.js";
import { driverOf, objectOfOp } from "../../kinds/registry.js";
import type { KernelObject, KernelState, Op } from "../../kinds/types.js";
import { StateIndex } from "../model-kernel/by-key.js";

export { DISRUPTIONS, type Disruption };

/** Answers which route carries traffic to dst in a state; the lead wires the model kernel's lookup. */
export type RouteFor = (state: KernelState, dst: string) => unknown;

export interface DisruptionContext {
  /** The operator's SSH peer address (from SSH_CONNECTION). */
  readonly managementPeer?: string;
  readonly routeFor?: RouteFor;
}

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
  // Which tables rules point at (all, and catch-all ones), kept current op by op.
  const refs = new Counter();
  const catchAll = new Counter();
  const track = (o: KernelObject, d: number): void => {
    const ref = driverOf(o).policyRef(o);
    if (ref.lookup === undefined) return;
    refs.bump(`${ref.family} ${ref.lookup}`, d);
    if (ref.catchAll) catchAll.bump(`${ref.family} ${ref.lookup}`, d);
  };
  for (const r of start.rule) track(r, 1);
  const facts: DisruptionFacts = {
    referenced: (family, table) => refs.has(`${family} ${table}`),
    catchAll: (family, table) => catchAll.has(`${family} ${table}`),
  };
  const peer =
    ctx.managementPeer !== undefined && ctx.routeFor !== undefined
      ? normalPeer(ctx.managementPeer)
      : undefined;
  // Ops that cannot move the peer's route are skipped: the answer before them still holds after.
  let peerRoute = peer === undefined ? "" : canonicalJson(ctx.routeFor!(start, peer));

  return ops.map((op, step) => {
    const o = objectOfOp(op);
    const kind = driverOf(o);
    let d = kind.disruption(op, facts);
    if (op.op !== "add") track(op.before, -1);
    if (op.op !== "delete") track(op.after, 1);
    ix.apply(op, step);
    if (peer !== undefined && kind.affectsLookup(o, peer)) {
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
