// One apply as a transaction on the kernel: journal, execute, verify, and on any failure roll back to
// the owned state observed before the first write.
//
// Rollback re-plans from a fresh observation back to the recorded pre-state instead of running the
// inverse of the executed ops: an op may be half done (a rule change renders to two lines and can fail
// between them), a device may have vanished, and after a crash the journal's progress can lag one batch
// behind the kernel. Diffing what the kernel really holds against the pre-state is exact in all of
// these cases; inverse ops are not.
import { sysctlInterface } from "../../kinds/sysctl/names.js";
import { randomUUID } from "node:crypto";
import { applyOps } from "../../core/model-kernel/index.js";
import { applyByKey, ApplyModelError } from "../../core/model-kernel/by-key.js";
import {
  describeObject,
  describeOp,
  driver,
  KIND_NAMES,
  ownedState,
  settledState,
  TRANSIENT_KINDS,
} from "../../kinds/registry.js";
import type { KernelState, Op, Ownership } from "../../kinds/types.js";
import { observe } from "../observe.js";
import { diff } from "../../core/plan/diff.js";
import { orderOps } from "../../core/plan/order.js";
import {
  readJournal,
  removeJournal,
  writeJournal,
  writeProgress,
  type JournalRecord,
} from "../state/journal.js";
import { appliedPath, writeApplied } from "../state/applied.js";
import {
  executeOps,
  executePrepared,
  prepare,
  type ExecOptions,
  type ExecResult,
  type FaultHook,
  type OpFailure,
} from "./execute.js";

export interface TxContext {
  readonly ownership: Ownership;
  readonly stateDir: string;
  readonly journalPath: string;
  /** The namespace's name, recorded in the journal. */
  readonly netnsName: string | undefined;
  readonly fault?: FaultHook;
  /** Verification tries (the kernel settles some state asynchronously). */
  readonly verifyTries?: number;
  /** Called once the ops ran, before verification: the moment the kernel holds the change. */
  readonly onExecuted?: () => void;
  /** The daemon's way to the kernel; without it, every read and write starts its own process. */
  readonly kernel?: KernelAccess;
}

/**
 * How a transaction reads and writes the kernel through long-lived means (the daemon's observed-state
 * cache and ip channels) instead of a process per observation and per batch.
 */
export interface KernelAccess {
  /** The observed state, with what our ops touched read again. */
  observe(): Promise<KernelState>;
  /** These ops ran, or some of them did: what their kinds read is stale. */
  touched(ops: readonly Op[]): void;
  readonly ipChannel: NonNullable<ExecOptions["ipChannel"]>;
}

/** What observing and restoring need (no journal: a pending change's record plays that part). */
export type RestoreContext = Pick<TxContext, "ownership" | "stateDir" | "verifyTries" | "kernel">;

export async function observeOwned(ctx: RestoreContext): Promise<KernelState> {
  return ctx.kernel?.observe() ?? observe({ stateDir: ctx.stateDir });
}

/** Run ops as the context says (through its channels), and tell its cache what they touched. */
async function executeIn(ctx: RestoreContext, ops: readonly Op[]): Promise<ExecResult> {
  try {
    return await executeOps(ops, ctx.kernel === undefined ? {} : { ipChannel: ctx.kernel.ipChannel });
  } finally {
    ctx.kernel?.touched(ops);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The ops still needed to turn the kernel's owned state into `target` (empty: it matches). Transient
 * kinds (tracked flows) are left out: traffic makes and ends them while we look.
 */
export async function remaining(target: KernelState, ctx: RestoreContext): Promise<Op[]> {
  const tries = ctx.verifyTries ?? 5;
  const want = settledState(target);
  let left: Op[] = [];
  for (let i = 0; i < tries; i++) {
    if (i > 0) await sleep(100 * i);
    left = orderOps(diff(settledState(await observeOwned(ctx)), want, ctx.ownership));
    if (left.length === 0) return [];
  }
  return left;
}

/**
 * Routes and per-interface sysctls of a device that no longer exists cannot come back: leave them out.
 * Neither can deleted flows: transient kinds stay as the kernel holds them now. A service that is
 * gone comes back as its start makes it (its driver's startsAs).
 */
export function restorable(pre: KernelState, current: KernelState, own: Ownership): KernelState {
  const links = new Set(current.link.map((l) => l.name));
  const owned = ownedState(pre, own);
  const now = ownedState(current, own);
  const restarted = Object.fromEntries(
    KIND_NAMES.flatMap((k) => {
      const d = driver(k);
      const startsAs = d.startsAs;
      if (startsAs === undefined) return [];
      const running = new Set(now[k].map((o) => d.key(o)));
      return [[k, owned[k].map((o) => (running.has(d.key(o)) ? o : startsAs(o)))]];
    }),
  );
  return {
    ...owned,
    ...restarted,
    ...Object.fromEntries(TRANSIENT_KINDS.map((k) => [k, now[k]])),
    route: owned.route.filter(
      (r) => (r.dev === undefined || links.has(r.dev)) && (r.nexthops ?? []).every((h) => links.has(h.dev)),
    ),
    sysctl: owned.sysctl.filter((s) => {
      const dev = sysctlInterface(s.name);
      return dev === undefined || dev === "all" || dev === "default" || links.has(dev);
    }),
  };
}

export type RestoreResult =
  | { readonly ok: true; readonly ops: number }
  | { readonly ok: false; readonly reason: string; readonly left: readonly Op[] };

/** Bring the owned state back to `pre` and check it: re-plan, execute, verify. */
export async function restore(pre: KernelState, ctx: RestoreContext): Promise<RestoreResult> {
  const now = await observeOwned(ctx);
  const target = restorable(pre, now, ctx.ownership);
  const ops = orderOps(diff(now, target, ctx.ownership));
  if (ops.length > 0) {
    const r = await executeIn(ctx, ops);
    if (!r.ok) return { ok: false, reason: describeFailure(r.failure), left: await remaining(target, ctx) };
  }
  const left = await remaining(target, ctx);
  if (left.length > 0)
    return { ok: false, reason: "the kernel does not hold the pre-apply state after restoring it", left };
  return { ok: true, ops: ops.length };
}

export function describeFailure(f: OpFailure): string {
  if (f.afterLast) return `after all ${f.index + 1} op(s) had run: ${f.message}`;
  const obj = f.op.op === "delete" ? f.op.before : f.op.after;
  const cmd = f.command === "" ? "" : ` (\`${f.command}\`)`;
  return `op ${f.index} (${f.op.op} ${obj.kind} ${describeObject(obj)})${cmd} failed: ${f.message}${f.partial ? " (half done)" : ""}`;
}

export type TxResult =
  | { readonly outcome: "applied"; readonly exec: ExecResult; readonly ops: number }
  | {
      readonly outcome: "rolled-back";
      readonly reason: string;
      readonly exec: ExecResult;
      readonly failure?: OpFailure;
    }
  | {
      readonly outcome: "rollback-failed";
      readonly reason: string;
      readonly rollback: string;
      readonly left: readonly Op[];
      readonly exec: ExecResult;
      readonly failure?: OpFailure;
    };

/** Apply `ops` planned on `observed`: journal first, execute, verify, roll back on any failure. */
export async function transact(
  observed: KernelState,
  ops: readonly Op[],
  policyDigest: string,
  ctx: TxContext,
): Promise<TxResult> {
  const model = applyOps(observed, ops);
  if (!model.ok)
    throw new Error(`the plan does not apply to the observed state: op ${model.step}: ${model.error}`);
  const expected = ownedState(model.state, ctx.ownership);
  // Render everything before the journal and the first write: an op that cannot run is refused whole.
  const prepared = prepare(ops, ctx.fault);
  const base: JournalRecord = {
    id: randomUUID(),
    createdAt: new Date().toISOString(),
    netns: ctx.netnsName ?? null,
    policyDigest,
    ops,
    preState: ownedState(observed, ctx.ownership),
    executed: 0,
    phase: "applying",
    ownership: ctx.ownership,
  };
  writeJournal(ctx.journalPath, base);
  const exec = await executePrepared(prepared, {
    ...(ctx.fault === undefined ? {} : { fault: ctx.fault }),
    ...(ctx.kernel === undefined ? {} : { ipChannel: ctx.kernel.ipChannel }),
    onProgress: (executed) => writeProgress(ctx.journalPath, { id: base.id, executed, phase: "applying" }),
  }).finally(() => ctx.kernel?.touched(ops));
  ctx.onExecuted?.();
  let reason: string;
  if (exec.ok) {
    const left = await remaining(expected, ctx);
    if (left.length === 0) {
      // The baseline for drift: what this apply left, before the journal says it is over.
      writeApplied(appliedPath(ctx.stateDir, ctx.netnsName), settledState(expected));
      removeJournal(ctx.journalPath);
      return { outcome: "applied", exec, ops: ops.length };
    }
    // Name what differs: a verification failure on someone's machine must be diagnosable from the log.
    const named = left.slice(0, 3).map(describeOp).join("; ");
    const more = left.length > 3 ? `; and ${left.length - 3} more` : "";
    reason = `verification failed: the kernel differs from the plan's result in ${left.length} owned object(s): ${named}${more}`;
  } else reason = describeFailure(exec.failure);
  writeProgress(ctx.journalPath, { id: base.id, executed: exec.executed, phase: "rolling-back" });
  const failure = exec.ok ? {} : { failure: exec.failure };
  const back = await restore(base.preState, ctx);
  if (!back.ok)
    return { outcome: "rollback-failed", reason, rollback: back.reason, left: back.left, exec, ...failure };
  removeJournal(ctx.journalPath);
  return { outcome: "rolled-back", reason, exec, ...failure };
}

export type RecoverResult =
  | { readonly found: false }
  | {
      readonly found: true;
      readonly journal: JournalRecord;
      /**
       * "completed": every op had run and the kernel holds the plan's result (the process died while
       * verifying): the journal is closed and nothing is undone. "restored": the pre-state came back.
       */
      readonly outcome: "completed" | "restored";
      readonly restored: RestoreResult;
    };

function resultOf(pre: KernelState, ops: readonly Op[]): KernelState | undefined {
  try {
    return applyByKey(pre, ops);
  } catch (e) {
    if (e instanceof ApplyModelError) return undefined;
    throw e;
  }
}

/**
 * An unfinished journal means an apply died mid-way: restore the pre-state it recorded, unless the
 * apply had in fact finished (all ops ran and the kernel holds their result): undoing a complete,
 * correct change would only cost the node a second disruption.
 */
export async function recover(ctx: TxContext): Promise<RecoverResult> {
  const journal = readJournal(ctx.journalPath);
  if (journal === undefined) return { found: false };
  // The ownership the pre-state was taken under, not today's policy's (it may have been edited since).
  const ownership = journal.ownership ?? ctx.ownership;
  const under = { ...ctx, ownership };
  // The plan's result on the owned objects alone (the journal holds no links: set-based, no lookups).
  const result = journal.phase === "applying" ? resultOf(journal.preState, journal.ops) : undefined;
  if (result !== undefined && (await remaining(result, { ...under, verifyTries: 1 })).length === 0) {
    removeJournal(ctx.journalPath);
    return { found: true, journal, outcome: "completed", restored: { ok: true, ops: 0 } };
  }
  const restored = await restore(journal.preState, under);
  if (restored.ok) removeJournal(ctx.journalPath);
  return { found: true, journal, outcome: "restored", restored };
}
