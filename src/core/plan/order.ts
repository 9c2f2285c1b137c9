// Dependency order of a plan, and plan() itself.
// Build phase (adds, changes, recreates) runs in dependency order, each kind's driver giving its rank:
// link, address, sysctl, route, rule, qdisc, class, filter, nft, services. So an address exists before routes that use it, a table's routes
// before the rule that points at it, a new default before the old one goes (make-before-break).
// Teardown phase (deletes) runs afterwards in the reverse order: rules go before their tables' routes,
// filters before classes (children before parents) before qdiscs. A same-key recreate (delete+add of a kind without in-place
// change) runs its delete right before its add. Ties break on the key: deterministic for the same input.
import { describeObject, driverOf, DRIVERS, keyOf, objectOfOp } from "../../kinds/registry.js";
import type { KernelState, Op, Ownership } from "../../kinds/types.js";
import { conflicts, diff, type Conflict } from "./diff.js";

/**
 * How many objects deleted by the same ops sit above each deleted object of its kind: a parent can only
 * go once its children have (htb refuses to delete a class with children). Keyed "kind key".
 */
function deleteDepths(ops: readonly Op[]): Map<string, number> {
  const parents = new Map<string, string>();
  for (const op of ops) {
    if (op.op !== "delete") continue;
    const parent = driverOf(op.before).parentKey?.(op.before);
    if (parent !== undefined)
      parents.set(`${op.before.kind} ${keyOf(op.before)}`, `${op.before.kind} ${parent}`);
  }
  const depth = (k: string, seen: number): number => {
    const p = parents.get(k);
    return p === undefined || !parents.has(p) || seen > parents.size ? 0 : 1 + depth(p, seen + 1);
  };
  return new Map([...parents.keys()].map((k) => [k, depth(k, 0)]));
}

export function orderOps(ops: readonly Op[]): Op[] {
  const depths = deleteDepths(ops);
  const addKeys = new Set(ops.filter((o) => o.op === "add").map((o) => `${o.after.kind} ${keyOf(o.after)}`));
  const decorated = ops.map((op) => {
    const o = objectOfOp(op);
    const key = keyOf(o);
    const recreate = op.op === "delete" && addKeys.has(`${o.kind} ${key}`);
    const build = op.op !== "delete" || recreate;
    const rank = DRIVERS[o.kind].rank;
    return {
      op,
      phase: build ? 0 : 1,
      rank: build ? rank : -rank,
      // Deeper deletes first (children before parents); 0 for everything else.
      depth: build ? 0 : -(depths.get(`${o.kind} ${key}`) ?? 0),
      key,
      sub: op.op === "delete" ? 0 : 1,
    };
  });
  decorated.sort(
    (a, b) =>
      a.phase - b.phase ||
      a.rank - b.rank ||
      a.depth - b.depth ||
      (a.key < b.key ? -1 : a.key > b.key ? 1 : 0) ||
      a.sub - b.sub,
  );
  return decorated.map((d) => d.op);
}

/** The lead wires this to the invariant checker on the model kernel. */
export type PlanCheck = (
  start: KernelState,
  ops: readonly Op[],
) => { ok: true } | { ok: false; step: number; violations: readonly string[] };

export type PlanFailure =
  | {
      readonly reason: "invariant";
      /** Index of the first op after which an invariant breaks. */
      readonly step: number;
      readonly op: Op | undefined;
      readonly violations: readonly string[];
      readonly message: string;
    }
  | {
      /** Foreign objects hold the identity of desired ones: writing ours would replace theirs. */
      readonly reason: "conflict";
      readonly conflicts: readonly Conflict[];
      readonly message: string;
    };

export type PlanResult =
  { readonly ok: true; readonly ops: readonly Op[] } | { readonly ok: false; readonly error: PlanFailure };

/** Ordered ops from observed to desired; never a plan whose check fails. */
export function plan(
  observed: KernelState,
  desired: KernelState,
  ownership: Ownership,
  check?: PlanCheck,
): PlanResult {
  const clashes = conflicts(observed, desired, ownership);
  if (clashes.length > 0) {
    const list = clashes.map((c) => `${c.foreign.kind} ${describeObject(c.foreign)}`).join("; ");
    return {
      ok: false,
      error: {
        reason: "conflict",
        conflicts: clashes,
        message: `foreign objects hold the place of desired ones, backhaul will not replace them: ${list}`,
      },
    };
  }
  const ops = orderOps(diff(observed, desired, ownership));
  if (check === undefined || ops.length === 0) return { ok: true, ops };
  const verdict = check(observed, ops);
  if (verdict.ok) return { ok: true, ops };
  const op = ops[verdict.step];
  const what = op === undefined ? "" : ` (${op.op} ${objectOfOp(op).kind} ${describeObject(objectOfOp(op))})`;
  return {
    ok: false,
    error: {
      reason: "invariant",
      step: verdict.step,
      op,
      violations: verdict.violations,
      message: `the plan breaks an invariant after step ${verdict.step}${what}: ${verdict.violations.join("; ")}`,
    },
  };
}
