// The invariants of docs/model-kernel.md (from DESIGN.md) as pure functions over a state and a context,
// and checkPlan, which applies a plan op by op on one model kernel and checks after every prefix.
import { isOwned, keyOf, sameObject, ownedState, canonicalState } from "../kinds/registry.js";
import type { Family, KernelState, Op, Ownership, Rule } from "../kinds/types.js";
import { isCatchAll } from "../kinds/ip/rule.js";
import { ModelKernel, type LookupResult } from "./model-kernel/kernel.js";
import { inverseOps } from "./model-kernel/index.js";
import { canonicalJson } from "../util/canonical.js";
import { parseInterfacePrefix, formatAddress, parsePrefix, contains, parseAddress } from "../util/prefix.js";

export interface InvariantContext {
  readonly ownership: Ownership;
  readonly strategy: "failover" | "balance";
  /** Uplinks (interface names) usable in the desired state. */
  readonly usableUplinks: readonly string[];
  /** The policy asks for a kill switch: with no usable uplink, general traffic may be blackholed. */
  readonly killSwitch: boolean;
  /** Destinations that stand for "the internet"; see genericDestinations(). */
  readonly genericDestinations: readonly string[];
  /** Local subnets (LAN, hotspot) that must resolve through their own interface; absent: derived from the state. */
  readonly localSubnets?: readonly { readonly prefix: string; readonly dev: string }[];
}

export type InvariantName =
  | "always-one-route"
  | "no-blackhole"
  | "ownership"
  | "single-active"
  | "local-first"
  | "convergence"
  | "minimality"
  | "rollback";

export interface Violation {
  readonly invariant: InvariantName;
  readonly message: string;
}

/** Documentation addresses covered by no route but a default one make good generic destinations. */
const CANDIDATES: Readonly<Record<Family, readonly string[]>> = {
  4: ["203.0.113.177", "198.51.100.177", "100.127.255.177"],
  6: ["3fff::77", "2001:db8:ffff::77"],
};

/** Per family, the first candidate that no non-default route in any table covers. */
export function genericDestinations(state: KernelState): string[] {
  const out: string[] = [];
  for (const f of [4, 6] as const) {
    const prefixes = state.route
      .filter((r) => r.family === f)
      .map((r) => parsePrefix(r.dst))
      .filter((p) => p.len > 0);
    const pick = CANDIDATES[f].find((c) => !prefixes.some((p) => contains(p, parseAddress(c))));
    if (pick) out.push(pick);
  }
  return out;
}

function usable(res: LookupResult): boolean {
  return res.kind === "route" && res.type === "unicast" && res.nexthops.length > 0;
}

function describeResult(res: LookupResult): string {
  if (res.kind === "error")
    return `${res.error}${res.route ? ` (route ${res.route.dst} in table ${res.table})` : res.rulePriority !== undefined ? ` (rule ${res.rulePriority})` : ""}`;
  return `${res.type} via ${res.nexthops.map((h) => `${h.gateway ?? "-"} dev ${h.dev}`).join(", ") || "nothing"} (table ${res.table})`;
}

function localSubnets(k: ModelKernel, ctx: InvariantContext): { prefix: string; dev: string }[] {
  if (ctx.localSubnets) return [...ctx.localSubnets];
  const uplinks = new Set(ctx.usableUplinks);
  return k
    .addresses()
    .filter((a) => !uplinks.has(a.dev) && k.link(a.dev)?.adminUp && k.link(a.dev)?.carrier)
    .map((a) => ({ prefix: a.local, dev: a.dev }));
}

/** A catch-all rule leading to an owned table. */
function isOwnedCatchAll(r: Rule, own: Ownership): boolean {
  return isCatchAll(r) && r.table !== undefined && r.table >= own.tables.min && r.table <= own.tables.max;
}

/** Check the state invariants (1, 2, 7, 8) on a model kernel. */
export function checkKernel(k: ModelKernel, ctx: InvariantContext): Violation[] {
  return [...checkLookups(k, ctx), ...checkRules(k, ctx)];
}

/** The invariants answered by lookups: always-one-route, no-blackhole, one path under failover, local-first. */
export function checkLookups(k: ModelKernel, ctx: InvariantContext): Violation[] {
  const out: Violation[] = [];
  const wantRoute = ctx.usableUplinks.length > 0;
  for (const dst of ctx.genericDestinations) {
    const res = k.lookup({ dst });
    if (wantRoute && !usable(res))
      out.push({
        invariant: "always-one-route",
        message: `${dst} resolves to ${describeResult(res)} while ${ctx.usableUplinks.join(", ")} is usable`,
      });
    if (res.kind === "error" && res.error !== "no-route" && !(ctx.killSwitch && !wantRoute))
      out.push({ invariant: "no-blackhole", message: `${dst} resolves to ${describeResult(res)}` });
    if (ctx.strategy === "failover" && res.kind === "route" && res.nexthops.length > 1)
      out.push({
        invariant: "single-active",
        message: `${dst} has ${res.nexthops.length} paths under failover`,
      });
  }
  for (const { prefix, dev } of localSubnets(k, ctx)) {
    const p = parseInterfacePrefix(prefix);
    const res = k.lookup({ dst: formatAddress(p.family, p.net) });
    // The node's own address resolves locally: that is local-first too.
    if (res.kind === "route" && (res.type === "local" || res.nexthops.some((h) => h.dev === dev))) continue;
    out.push({ invariant: "local-first", message: `${prefix} on ${dev} resolves to ${describeResult(res)}` });
  }
  return out;
}

/** single-active on rules: at most one owned catch-all rule per family under failover. */
export function checkRules(k: ModelKernel, ctx: InvariantContext): Violation[] {
  const out: Violation[] = [];
  if (ctx.strategy !== "failover") return out;
  for (const f of [4, 6] as const) {
    const catchAll = k
      .rulesOf(f)
      .filter((r) => isOwnedCatchAll(r, ctx.ownership) && isOwned(r, ctx.ownership));
    if (catchAll.length > 1)
      out.push({
        invariant: "single-active",
        message: `${catchAll.length} IPv${f} catch-all rules: priorities ${catchAll.map((r) => r.priority).join(", ")}`,
      });
  }
  return out;
}

export function checkInvariants(state: KernelState, ctx: InvariantContext): Violation[] {
  return checkKernel(ModelKernel.from(state), ctx);
}

/** Ownership (invariant 6) of one op: only owned objects are added, changed or deleted. */
export function checkOwnership(ops: readonly Op[], own: Ownership): Violation[] {
  const out: Violation[] = [];
  ops.forEach((op, i) => {
    const objs = op.op === "add" ? [op.after] : op.op === "delete" ? [op.before] : [op.before, op.after];
    for (const o of objs)
      if (!isOwned(o, own))
        out.push({ invariant: "ownership", message: `step ${i}: ${op.op} of foreign ${o.kind} ${keyOf(o)}` });
  });
  return out;
}

export type PlanVerdict =
  | { readonly ok: true; readonly end: KernelState }
  | { readonly ok: false; readonly step: number; readonly violations: readonly Violation[] };

/**
 * Apply the plan op by op on one model kernel and check after every prefix (the empty prefix included).
 * A step is re-checked with lookups only: the model's index makes each check cost a few lookups, so a
 * plan of n ops over a state of m routes costs O(m + n·(rules + log m)).
 */
export function checkPlan(start: KernelState, ops: readonly Op[], ctx: InvariantContext): PlanVerdict {
  const own = checkOwnership(ops, ctx.ownership);
  if (own.length) {
    const step = Number(/^step (\d+)/.exec(own[0]!.message)?.[1] ?? 0);
    return { ok: false, step, violations: own };
  }
  const k = ModelKernel.from(start);
  const before = checkKernel(k, ctx);
  // Only what a plan makes worse counts: a violation already present at the start is not the plan's.
  const known = new Set(before.map((v) => `${v.invariant}:${v.message}`));
  // Rule checks only change when a rule does; lookups are re-run after every step.
  let ruleViolations = checkRules(k, ctx);
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    const err = k.apply(op);
    if (err)
      return {
        ok: false,
        step: i,
        violations: [
          { invariant: "convergence", message: `step ${i} is refused by the kernel: ${err.message}` },
        ],
      };
    if ((op.op === "delete" ? op.before : op.after).kind === "rule") ruleViolations = checkRules(k, ctx);
    const v = [...checkLookups(k, ctx), ...ruleViolations].filter(
      (x) => !known.has(`${x.invariant}:${x.message}`),
    );
    if (v.length) return { ok: false, step: i, violations: v };
  }
  // The end state costs a sort of every object: made only when someone reads it.
  let end: KernelState | undefined;
  return {
    ok: true,
    get end(): KernelState {
      end ??= k.state();
      return end;
    },
  };
}

/** Convergence (invariant 3): the plan takes `start` to a state whose owned part equals `desired`'s. */
export function checkConvergence(
  start: KernelState,
  ops: readonly Op[],
  desiredOwned: KernelState,
  own: Ownership,
): Violation[] {
  const k = ModelKernel.from(start);
  for (const [i, op] of ops.entries()) {
    const err = k.apply(op);
    if (err) return [{ invariant: "convergence", message: `step ${i} refused: ${err.message}` }];
  }
  const got = canonicalJson(canonicalState(ownedState(k.state(), own)));
  const want = canonicalJson(canonicalState(ownedState(desiredOwned, own)));
  return got === want
    ? []
    : [{ invariant: "convergence", message: "the owned end state differs from the desired one" }];
}

/** Minimality (invariant 4): every op is for an owned object that differs, and no object gets two ops. */
export function checkMinimality(start: KernelState, ops: readonly Op[], own: Ownership): Violation[] {
  const out: Violation[] = [];
  const current = new Map<string, unknown>();
  for (const kind of Object.keys(start) as (keyof KernelState)[])
    for (const o of start[kind]) current.set(`${o.kind}|${keyOf(o)}`, o);
  const seen = new Set<string>();
  ops.forEach((op, i) => {
    const o = op.op === "delete" ? op.before : op.after;
    const id = `${o.kind}|${keyOf(o)}`;
    if (seen.has(id)) out.push({ invariant: "minimality", message: `step ${i}: a second op for ${id}` });
    seen.add(id);
    if (op.op === "change" && sameObject(op.before, op.after))
      out.push({ invariant: "minimality", message: `step ${i}: change without a difference for ${id}` });
    if (op.op === "add") {
      const existing = current.get(id);
      if (existing && sameObject(existing as never, op.after))
        out.push({ invariant: "minimality", message: `step ${i}: adds ${id} which exists already` });
    }
  });
  return [...out, ...checkOwnership(ops, own).map((v) => ({ ...v, invariant: "minimality" as const }))];
}

/**
 * Rollback (invariant 5): when step `failAt` fails, running the inverse of the steps before it restores
 * the start state exactly.
 */
export function checkRollback(start: KernelState, ops: readonly Op[], failAt: number): Violation[] {
  const k = ModelKernel.from(start);
  const done = ops.slice(0, failAt);
  for (const op of done)
    if (k.apply(op)) return [{ invariant: "rollback", message: "the plan's prefix is refused" }];
  for (const [i, op] of inverseOps(done).entries()) {
    const err = k.apply(op);
    if (err) return [{ invariant: "rollback", message: `inverse step ${i} refused: ${err.message}` }];
  }
  return canonicalJson(k.state()) === canonicalJson(canonicalState(start))
    ? []
    : [{ invariant: "rollback", message: `rolling back ${failAt} steps does not restore the start state` }];
}
