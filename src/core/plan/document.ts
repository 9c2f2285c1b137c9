// The plan document (`plan --json`, `plan --out`), as schemas/plan.schema.json describes it.
// format_version follows semver: minor versions only add fields.
import {
  canonicalState,
  isOwned,
  keyOf,
  ownedState,
  sameObject,
  settledState,
  driverOf,
} from "../../kinds/registry.js";
import {
  KIND_NAMES,
  type KernelObject,
  type KernelState,
  type KindName,
  type Op,
  type Ownership,
} from "../../kinds/types.js";
import { digest } from "../../util/canonical.js";
import type { Selection } from "../selection/types.js";
import { DISRUPTIONS, type Disruption } from "./disruption.js";

/** 1.1 added policy_file. */
export const PLAN_FORMAT_VERSION = "1.1";

export type Action = "create" | "update" | "delete";
export type Actions =
  | readonly ["create"]
  | readonly ["update"]
  | readonly ["delete"]
  | readonly ["delete", "create"]
  | readonly ["create", "delete"];

export interface Change {
  /** In execution order: ["create","delete"] is make-before-break, ["delete","create"] a recreate. */
  readonly actions: Actions;
  readonly kind: KindName;
  /** The key of the object after the change (before, for a delete). */
  readonly key: string;
  readonly before: KernelObject | null;
  readonly after: KernelObject | null;
  readonly reason: string;
  readonly disruption: Disruption;
  /** Indexes into ops. */
  readonly steps: readonly number[];
  /** With plan --explain: where in the policy this change comes from. */
  readonly policy_sources?: readonly {
    readonly pointer: string;
    readonly file: string;
    readonly line: number;
    readonly column: number;
  }[];
}

export interface PlannedOp {
  readonly step: number;
  readonly op: Op["op"];
  readonly kind: KindName;
  readonly key: string;
  readonly before?: KernelObject;
  readonly after?: KernelObject;
  readonly disruption: Disruption;
}

export interface DriftEntry {
  readonly kind: KindName;
  readonly key: string;
  /** What our last apply recorded (null: it did not exist then). */
  readonly before: KernelObject | null;
  /** What the kernel holds now (null: removed behind our back). */
  readonly after: KernelObject | null;
}

export interface PlanDocument {
  readonly format_version: "1.0" | typeof PLAN_FORMAT_VERSION;
  /** The policy the plan was made from (absolute path), so `apply FILE` can check and lock against it. */
  readonly policy_file?: string;
  readonly fingerprint: { readonly observed_owned: string; readonly policy: string };
  readonly selection?: {
    readonly strategy: Selection["strategy"];
    readonly active: readonly { readonly name: string; readonly weight: number }[];
    readonly reason: string;
    readonly uplinks: readonly {
      readonly name: string;
      readonly iface: string;
      readonly attached: boolean;
      readonly usable: boolean;
      readonly tier?: string;
      readonly score?: number;
      readonly reason: string;
    }[];
  };
  readonly drift: readonly DriftEntry[];
  readonly changes: readonly Change[];
  readonly ops: readonly PlannedOp[];
  readonly summary: { readonly add: number; readonly change: number; readonly destroy: number };
}

export interface DocumentInput {
  readonly observed: KernelState;
  readonly ownership: Ownership;
  /** Ordered, as plan() returns them. */
  readonly ops: readonly Op[];
  /** One per op, as classify() returns them. */
  readonly disruptions: readonly Disruption[];
  readonly reasonFor: (op: Op) => string;
  /** Digest of the effective policy. */
  readonly policyDigest: string;
  readonly selection?: Selection;
  /** The owned state our last apply recorded: objects that differ were changed behind our back. */
  readonly lastApplied?: KernelState;
}

/**
 * Digest of the owned part of an observed state: apply FILE refuses a plan made on another state.
 * Tracked flows are left out: they change with every connection.
 */
export function fingerprintObserved(observed: KernelState, ownership: Ownership): string {
  return digest(canonicalState(settledState(ownedState(observed, ownership))));
}

/** Pairs ops acting on one logical object ("slot"): a rule at one priority, a route to one destination in one table. */
function slotOf(o: KernelObject): string {
  return driverOf(o).slot(o);
}

const worst = (ds: readonly Disruption[]): Disruption =>
  ds.reduce<Disruption>((a, b) => (DISRUPTIONS.indexOf(a) >= DISRUPTIONS.indexOf(b) ? a : b), "none");

/** Ops grouped into changes: an add and a delete of one slot form a replacement. */
export function groupChanges(
  ops: readonly Op[],
  disruptions: readonly Disruption[],
  reasonFor: (op: Op) => string,
): Change[] {
  if (disruptions.length !== ops.length) throw new Error("document: one disruption class per op is required");
  const adds = new Map<string, number[]>();
  const deletes = new Map<string, number[]>();
  ops.forEach((op, i) => {
    if (op.op === "change") return;
    const m = op.op === "add" ? adds : deletes;
    const s = slotOf(op.op === "add" ? op.after : op.before);
    m.set(s, [...(m.get(s) ?? []), i]);
  });
  const partner = new Map<number, number>();
  for (const [s, as] of adds) {
    const ds = deletes.get(s) ?? [];
    for (let k = 0; k < Math.min(as.length, ds.length); k++) {
      partner.set(as[k]!, ds[k]!);
      partner.set(ds[k]!, as[k]!);
    }
  }
  const changes: Change[] = [];
  const done = new Set<number>();
  ops.forEach((op, i) => {
    if (done.has(i)) return;
    done.add(i);
    const j = partner.get(i);
    if (op.op === "change") {
      changes.push(change(["update"], op.after, op.before, op.after, [i], reasonFor(op), [disruptions[i]!]));
    } else if (j !== undefined) {
      done.add(j);
      const add = (op.op === "add" ? op : ops[j]) as Extract<Op, { op: "add" }>;
      const del = (op.op === "delete" ? op : ops[j]) as Extract<Op, { op: "delete" }>;
      const actions = op.op === "delete" ? (["delete", "create"] as const) : (["create", "delete"] as const);
      const ds = [disruptions[i]!, disruptions[j]!];
      changes.push(change(actions, add.after, del.before, add.after, [i, j], reasonFor(add), ds));
    } else if (op.op === "add") {
      changes.push(change(["create"], op.after, null, op.after, [i], reasonFor(op), [disruptions[i]!]));
    } else {
      changes.push(change(["delete"], op.before, op.before, null, [i], reasonFor(op), [disruptions[i]!]));
    }
  });
  return changes;
}

function change(
  actions: Actions,
  keyObject: KernelObject,
  before: KernelObject | null,
  after: KernelObject | null,
  steps: number[],
  reason: string,
  ds: Disruption[],
): Change {
  return {
    actions,
    kind: keyObject.kind,
    key: keyOf(keyObject),
    before,
    after,
    reason,
    disruption: worst(ds),
    steps,
  };
}

/** Owned objects that differ from what our last apply recorded: changed behind backhaul's back. */
export function driftSince(
  lastApplied: KernelState,
  observed: KernelState,
  ownership: Ownership,
): DriftEntry[] {
  const out: DriftEntry[] = [];
  for (const kind of KIND_NAMES) {
    const then = new Map<string, KernelObject>(
      lastApplied[kind].filter((o) => isOwned(o, ownership)).map((o) => [keyOf(o), o]),
    );
    const now = new Map<string, KernelObject>(
      observed[kind].filter((o) => isOwned(o, ownership)).map((o) => [keyOf(o), o]),
    );
    const keys = [...new Set([...then.keys(), ...now.keys()])].sort();
    for (const key of keys) {
      const b = then.get(key) ?? null;
      const a = now.get(key) ?? null;
      if (b !== null && a !== null && sameObject(a, b)) continue;
      out.push({ kind, key, before: b, after: a });
    }
  }
  return out;
}

export function summarize(changes: readonly Change[]): PlanDocument["summary"] {
  let add = 0;
  let chg = 0;
  let destroy = 0;
  for (const c of changes) {
    const actions: readonly Action[] = c.actions;
    if (actions.includes("create")) add++;
    if (actions.includes("update")) chg++;
    if (actions.includes("delete")) destroy++;
  }
  return { add, change: chg, destroy };
}

export function buildDocument(input: DocumentInput): PlanDocument {
  const changes = groupChanges(input.ops, input.disruptions, input.reasonFor);
  const ops: PlannedOp[] = input.ops.map((op, step) => {
    const o = op.op === "delete" ? op.before : op.after;
    return {
      step,
      op: op.op,
      kind: o.kind,
      key: keyOf(o),
      ...(op.op === "add" ? {} : { before: op.before }),
      ...(op.op === "delete" ? {} : { after: op.after }),
      disruption: input.disruptions[step]!,
    };
  });
  const sel = input.selection;
  return {
    format_version: PLAN_FORMAT_VERSION,
    fingerprint: {
      observed_owned: fingerprintObserved(input.observed, input.ownership),
      policy: input.policyDigest,
    },
    ...(sel === undefined
      ? {}
      : {
          selection: {
            strategy: sel.strategy,
            active: sel.active.map((a) => ({ name: a.name, weight: a.weight })),
            reason: sel.reason,
            uplinks: sel.verdicts.map((v) => ({
              name: v.name,
              iface: v.iface,
              attached: v.attached,
              usable: v.usable,
              ...(v.tier === undefined ? {} : { tier: v.tier }),
              ...(v.score === undefined ? {} : { score: v.score.total }),
              reason: v.reason,
            })),
          },
        }),
    drift:
      input.lastApplied === undefined ? [] : driftSince(input.lastApplied, input.observed, input.ownership),
    changes,
    ops,
    summary: summarize(changes),
  };
}

/** The ordered ops of a saved plan (after validatePlanDocument), for `apply FILE`. */
export function opsFromDocument(doc: PlanDocument): Op[] {
  return doc.ops.map((p): Op => {
    if (p.op === "add" && p.after !== undefined) return { op: "add", after: p.after };
    if (p.op === "delete" && p.before !== undefined) return { op: "delete", before: p.before };
    if (p.op === "change" && p.before !== undefined && p.after !== undefined)
      return { op: "change", before: p.before, after: p.after };
    throw new Error(
      `plan document: op ${p.step} (${p.op} ${p.kind} ${p.key}) lacks its before or after object`,
    );
  });
}
