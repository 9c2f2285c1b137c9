// Becoming the namespace's writer: take its lock, then finish what a writer that died left behind
// (its journal), before anything is observed for a plan. `apply` and the daemon both start this way;
// writing it once keeps the two from drifting apart in what they recover and how they say so.
import { plannerInputs } from "../../core/plan/inputs.js";
import type { EffectivePolicy } from "../../policy/types.js";
import type { Ownership } from "../../kinds/types.js";
import { observe } from "../observe.js";
import { journalPath } from "../state/journal.js";
import { acquireLock, LockHeldError, lockPath, type HeldLock, type LockRecord } from "../state/lock.js";
import type { FaultHook } from "./execute.js";
import { recover, type RecoverResult, type TxContext } from "./transaction.js";

/** The transaction context of a policy's writer in a namespace. */
export function txContextOf(
  policy: EffectivePolicy,
  ownership: Ownership,
  netns: string | undefined,
  fault?: FaultHook,
): TxContext {
  const stateDir = policy.daemon.stateDir;
  return {
    ownership,
    stateDir,
    journalPath: journalPath(stateDir, netns),
    netnsName: netns,
    ...(fault === undefined ? {} : { fault }),
  };
}

export type Recovered = Extract<RecoverResult, { found: true }>;

export interface Writer {
  readonly lock: HeldLock;
  /** Set when the lock was taken over from a process that is gone. */
  readonly tookOverFrom?: LockRecord;
  /** Set when a dead writer's journal was found (and closed or rolled back). */
  readonly recovered?: Recovered;
  release(): void;
}

/** Why this process cannot be the writer: another holds the lock, or a dead writer's change cannot be undone. */
export class WriterRefused extends Error {
  constructor(
    message: string,
    readonly reason: "locked" | "recovery-failed",
    readonly recovered?: Recovered,
  ) {
    super(message);
    this.name = "WriterRefused";
  }
}

/** One line for what recovery found and did. */
export function describeRecovered(r: Recovered): string {
  const j = r.journal;
  const what = `an unfinished apply (journal ${j.id}, started ${j.createdAt}, ${j.executed} of ${j.ops.length} ops done, ${j.phase})`;
  if (!r.restored.ok) return `ROLLBACK FAILED while recovering ${what}: ${r.restored.reason}`;
  return r.outcome === "completed"
    ? `Found ${what}: all of it had run and the kernel holds its result; closed it.`
    : `Recovered from ${what}: restored the state before it (${r.restored.ops} ops).`;
}

/**
 * Take the writer lock of `netns` for `operation` and recover any journal left there. Throws
 * WriterRefused (holding no lock) when the lock is held or the journal's change cannot be undone:
 * writing on top of a half-applied change would lose the state it must return to.
 */
export async function openWriter(
  policy: EffectivePolicy,
  netns: string | undefined,
  operation: string,
): Promise<Writer> {
  let lock: HeldLock;
  try {
    lock = acquireLock(lockPath(policy.daemon.stateDir, netns), operation);
  } catch (e) {
    if (e instanceof LockHeldError) throw new WriterRefused(e.message, "locked");
    throw e;
  }
  try {
    // The ownership here is only a fallback for journals written before they recorded their own.
    const observed = await observe({ stateDir: policy.daemon.stateDir });
    const ctx = txContextOf(policy, plannerInputs(policy, observed, netns).ownership, netns);
    const rec = await recover(ctx);
    if (rec.found && !rec.restored.ok)
      throw new WriterRefused(
        `${describeRecovered(rec)}; the journal is kept at ${ctx.journalPath}`,
        "recovery-failed",
        rec,
      );
    return {
      lock,
      ...(lock.tookOverFrom === undefined ? {} : { tookOverFrom: lock.tookOverFrom }),
      ...(rec.found ? { recovered: rec } : {}),
      release: () => lock.release(),
    };
  } catch (e) {
    lock.release();
    throw e;
  }
}
