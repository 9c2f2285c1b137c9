// One writer at a time per namespace. The lock file records who holds it (id, operation, user@host,
// pid and the process's start time), so a lock left by a dead process is recognized without trusting
// file times, and a second writer is told exactly who holds it.
import { randomUUID } from "node:crypto";
import { linkSync, readFileSync, renameSync, rmSync } from "node:fs";
import { hostname, userInfo } from "node:os";
import { join } from "node:path";
import { isAlive, processStartTime } from "../proc.js";
import { writeTempBeside } from "./durable-file.js";

export interface LockRecord {
  readonly id: string;
  readonly operation: string;
  readonly who: string;
  readonly pid: number;
  readonly startTime: number;
  readonly createdAt: string;
}

export class LockHeldError extends Error {
  constructor(readonly holder: LockRecord) {
    super(
      `another backhaul writer holds the lock: ${holder.operation} by ${holder.who} (pid ${holder.pid}, ` +
        `since ${holder.createdAt}, lock id ${holder.id}). If you are sure it is gone, run ` +
        `\`backhaul force-unlock ${holder.id}\``,
    );
    this.name = "LockHeldError";
  }
}

export interface HeldLock {
  readonly record: LockRecord;
  /** Set when a stale lock of a dead process was taken over. */
  readonly tookOverFrom?: LockRecord;
  release(): void;
}

export function lockPath(stateDir: string, netns: string | undefined): string {
  return join(stateDir, "locks", `${netns ?? "host"}.lock`);
}

function readLock(path: string): LockRecord | undefined {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as LockRecord;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    // Unreadable content cannot name a live holder; treat it as stale but keep it for inspection.
    return { id: "unreadable", operation: "?", who: "?", pid: -1, startTime: -1, createdAt: "?" };
  }
}

export function acquireLock(path: string, operation: string): HeldLock {
  const startTime = processStartTime(process.pid);
  if (startTime === undefined) throw new Error("cannot read this process's start time from /proc");
  const record: LockRecord = {
    id: randomUUID(),
    operation,
    who: `${userInfo().username}@${hostname()}`,
    pid: process.pid,
    startTime,
    createdAt: new Date().toISOString(),
  };
  let tookOverFrom: LockRecord | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    // link() of a complete temp file is atomic and fails when the lock exists: no half-written lock.
    const tmp = writeTempBeside(path, JSON.stringify(record) + "\n");
    try {
      linkSync(tmp, path);
      return {
        record,
        ...(tookOverFrom ? { tookOverFrom } : {}),
        release: () => releaseLock(path, record.id),
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    } finally {
      rmSync(tmp, { force: true });
    }
    const holder = readLock(path);
    if (holder === undefined) continue;
    if (isAlive(holder.pid, holder.startTime)) throw new LockHeldError(holder);
    // Stale: move it aside (rename is atomic, so two takers cannot both succeed on the same file).
    try {
      renameSync(path, `${path}.stale-${holder.id}`);
      rmSync(`${path}.stale-${holder.id}`, { force: true });
      tookOverFrom = holder;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
  }
  const holder = readLock(path);
  if (holder) throw new LockHeldError(holder);
  throw new Error(`could not acquire ${path}`);
}

function releaseLock(path: string, id: string): void {
  if (readLock(path)?.id === id) rmSync(path, { force: true });
}

/** Remove the lock only when its id matches: a person's deliberate act, never a guess. */
export function forceUnlock(path: string, id: string): LockRecord {
  const holder = readLock(path);
  if (holder === undefined) throw new Error(`no lock is held (${path})`);
  if (holder.id !== id)
    throw new Error(`the lock is held under id ${holder.id}, not ${id}; nothing was removed`);
  rmSync(path, { force: true });
  return holder;
}

export function currentHolder(path: string): LockRecord | undefined {
  return readLock(path);
}
