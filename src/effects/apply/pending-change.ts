// Confirm-or-revert: a change applied with --confirm-within is undone at its deadline unless confirmed.
// The revert does not depend on the CLI that applied the change: a detached reverter process waits for
// the deadline, and any later apply reverts a change whose deadline has passed before it does anything.
import { isAlive } from "../proc.js";
import { readPending, removePending, type PendingChange } from "../state/pending.js";
import { restore, type RestoreResult } from "./transaction.js";

/** Stop the detached reverter of a pending change (it is no longer needed). */
export function stopReverter(p: PendingChange): void {
  const r = p.reverter;
  if (r === undefined || r.pid === process.pid || !isAlive(r.pid, r.startTime)) return;
  try {
    process.kill(r.pid, "SIGTERM");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ESRCH") throw e;
  }
}

export function isDue(p: PendingChange, now = Date.now()): boolean {
  return now >= Date.parse(p.deadline);
}

/** Undo a pending change: restore its pre-state; the record goes once the kernel holds it again. */
export async function revertPending(
  p: PendingChange,
  path: string,
  stateDir: string,
): Promise<RestoreResult> {
  const r = await restore(p.preState, {
    ownership: p.ownership,
    stateDir,
  });
  if (r.ok) {
    removePending(path);
    stopReverter(p);
  }
  return r;
}

/** The pending change at `path` if it is still the one with this id. */
export function pendingWithId(path: string, id: string): PendingChange | undefined {
  const p = readPending(path);
  return p?.id === id ? p : undefined;
}
