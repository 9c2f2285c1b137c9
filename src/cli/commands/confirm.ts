// `backhaul confirm` keeps a change applied with --confirm-within; `backhaul revert` undoes it now.
// `revert --when-due ID` is the detached reverter apply starts: it waits for the deadline and reverts
// unless the change was confirmed (or reverted) first. See docs/apply.md.
import { Option, type Command } from "commander";
import { isDue, pendingWithId, revertPending, stopReverter } from "../../effects/apply/pending-change.js";
import { DEFAULT_POLICY_PATH, loadPolicy } from "../../policy/load.js";
import { acquireLock, LockHeldError, lockPath, type HeldLock } from "../../effects/state/lock.js";
import { pendingPath, readPending, removePending } from "../../effects/state/pending.js";
import { formatHuman } from "../diagnostics.js";
import { EXIT } from "../exit.js";
import { currentNetns } from "../../effects/netns.js";

interface StateDirOptions {
  readonly stateDir?: string;
}

async function stateDirOf(policy: string, o: StateDirOptions): Promise<string> {
  if (o.stateDir !== undefined) return o.stateDir;
  const loaded = await loadPolicy(policy);
  if (!loaded.ok)
    throw new Error(`${formatHuman(loaded.diagnostics, loaded.texts, false)}\n${policy}: invalid policy`);
  return loaded.policy.daemon.stateDir;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Take the writer lock, waiting while another writer holds it (up to `waitMs`). */
async function lockWaiting(stateDir: string, operation: string, waitMs: number): Promise<HeldLock> {
  const end = Date.now() + waitMs;
  for (;;) {
    try {
      return acquireLock(lockPath(stateDir, currentNetns()), operation);
    } catch (e) {
      if (!(e instanceof LockHeldError) || Date.now() > end) throw e;
      await sleep(200);
    }
  }
}

export async function runConfirm(policy: string, o: StateDirOptions): Promise<string> {
  const stateDir = await stateDirOf(policy, o);
  const lock = acquireLock(lockPath(stateDir, currentNetns()), "confirm");
  try {
    const path = pendingPath(stateDir, currentNetns());
    const p = readPending(path);
    if (p === undefined) throw new Error("no change is waiting for confirmation");
    removePending(path);
    stopReverter(p);
    return `Confirmed: the change applied at ${p.createdAt} stays.\n`;
  } finally {
    lock.release();
  }
}

export async function runRevert(policy: string, o: StateDirOptions): Promise<string> {
  const stateDir = await stateDirOf(policy, o);
  const lock = acquireLock(lockPath(stateDir, currentNetns()), "revert");
  try {
    const path = pendingPath(stateDir, currentNetns());
    const p = readPending(path);
    if (p === undefined) throw new Error("no change is waiting for confirmation");
    const r = await revertPending(p, path, stateDir);
    if (!r.ok) throw new Error(`REVERT FAILED: ${r.reason}; the pending record is kept at ${path}`);
    return `Reverted: the kernel holds the owned state from before the change applied at ${p.createdAt}.\n`;
  } finally {
    lock.release();
  }
}

/** The detached reverter: "waiting" on stdout once started, then only stderr (its log file). */
async function revertWhenDue(id: string, stateDir: string): Promise<number> {
  const path = pendingPath(stateDir, currentNetns());
  const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
  process.stdout.write("waiting\n");
  // The record is read again on every round: an apply with --confirm-within moves the deadline.
  for (;;) {
    const p = pendingWithId(path, id);
    if (p === undefined) return EXIT.ok;
    const wait = Date.parse(p.deadline) - Date.now();
    if (wait > 0) {
      await sleep(Math.min(wait, 250));
      continue;
    }
    // An apply running now reverts a due change itself, or extends it, before it goes on; wait for it.
    const lock = await lockWaiting(stateDir, "revert (confirm deadline)", 60_000);
    try {
      const now = pendingWithId(path, id);
      if (now === undefined) return EXIT.ok;
      if (!isDue(now)) {
        log(`change ${id}: deadline extended to ${now.deadline}`);
        continue;
      }
      const r = await revertPending(now, path, stateDir);
      log(
        r.ok ? `reverted change ${id}: not confirmed in time` : `REVERT FAILED for change ${id}: ${r.reason}`,
      );
      return r.ok ? EXIT.ok : EXIT.rollbackFailed;
    } finally {
      lock.release();
    }
  }
}

export function registerConfirm(program: Command): void {
  program
    .command("confirm")
    .description("Keep the change applied with --confirm-within")
    .argument("[policy]", "policy whose daemon.stateDir holds the pending change", DEFAULT_POLICY_PATH)
    .option("--netns <name>", "confirm in this network namespace")
    .addOption(new Option("--state-dir <dir>", "state directory (instead of the policy's)").hideHelp())
    .action(async (policy: string, o: StateDirOptions) => {
      try {
        process.stdout.write(await runConfirm(policy, o));
      } catch (e) {
        process.stderr.write(`backhaul confirm: ${(e as Error).message}\n`);
        process.exitCode = EXIT.error;
      }
    });
}

export function registerRevert(program: Command): void {
  program
    .command("revert")
    .description("Undo the change applied with --confirm-within, now")
    .argument("[policy]", "policy whose daemon.stateDir holds the pending change", DEFAULT_POLICY_PATH)
    .option("--netns <name>", "revert in this network namespace")
    .addOption(new Option("--state-dir <dir>", "state directory (instead of the policy's)").hideHelp())
    .addOption(new Option("--when-due <id>", "wait for the deadline of this change, then revert").hideHelp())
    .action(async (policy: string, o: StateDirOptions & { whenDue?: string }) => {
      try {
        if (o.whenDue !== undefined) {
          process.exitCode = await revertWhenDue(o.whenDue, await stateDirOf(policy, o));
          return;
        }
        process.stdout.write(await runRevert(policy, o));
      } catch (e) {
        process.stderr.write(`backhaul revert: ${(e as Error).message}\n`);
        process.exitCode =
          e instanceof Error && e.message.startsWith("REVERT FAILED") ? EXIT.rollbackFailed : EXIT.error;
      }
    });
}
