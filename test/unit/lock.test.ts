import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  acquireLock,
  currentHolder,
  forceUnlock,
  LockHeldError,
  lockPath,
} from "../../src/effects/state/lock.js";
import { processStartTime } from "../../src/effects/proc.js";

const freshPath = () => lockPath(mkdtempSync(join(tmpdir(), "bh-lock-")), "bhltest");

describe("the writer lock", () => {
  it("is held by one writer; a second gets an error naming the holder", () => {
    const p = freshPath();
    const held = acquireLock(p, "apply");
    expect(() => acquireLock(p, "run")).toThrow(LockHeldError);
    try {
      acquireLock(p, "run");
    } catch (e) {
      expect((e as Error).message).toMatch(/apply by .+@.+ \(pid \d+/);
      expect((e as Error).message).toContain(held.record.id);
    }
    held.release();
    acquireLock(p, "run").release();
    expect(currentHolder(p)).toBeUndefined();
  });

  it("is taken over from a dead process, recognized by pid and start time", async () => {
    const p = freshPath();
    const child = spawn("sleep", ["30"]);
    const pid = child.pid!;
    const startTime = processStartTime(pid)!;
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    mkdirSync(dirname(p), { recursive: true });
    const dead = { id: "dead-1", operation: "apply", who: "x@y", pid, startTime, createdAt: "then" };
    writeFileSync(p, JSON.stringify(dead));
    const held = acquireLock(p, "apply");
    expect(held.tookOverFrom?.id).toBe("dead-1");
    held.release();
  });

  it("is not taken over when the pid is alive even if the file is old", () => {
    const p = freshPath();
    const live = {
      id: "live-1",
      operation: "run",
      who: "x@y",
      pid: process.pid,
      startTime: processStartTime(process.pid)!,
      createdAt: "2020-01-01T00:00:00Z",
    };
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, JSON.stringify(live));
    expect(() => acquireLock(p, "apply")).toThrow(/force-unlock live-1/);
  });

  it("force-unlock removes the lock only for the matching id", () => {
    const p = freshPath();
    const held = acquireLock(p, "apply");
    expect(() => forceUnlock(p, "wrong")).toThrow(/not wrong; nothing was removed/);
    expect(currentHolder(p)?.id).toBe(held.record.id);
    expect(forceUnlock(p, held.record.id).operation).toBe("apply");
    expect(currentHolder(p)).toBeUndefined();
  });

  it("a pid reused by another process does not keep a stale lock alive", () => {
    const p = freshPath();
    mkdirSync(dirname(p), { recursive: true });
    // Our own pid with a start time that is not ours: a different (dead) process that had this pid.
    const reused = {
      id: "old",
      operation: "apply",
      who: "x@y",
      pid: process.pid,
      startTime: 1,
      createdAt: "then",
    };
    writeFileSync(p, JSON.stringify(reused));
    const held = acquireLock(p, "apply");
    expect(held.tookOverFrom?.id).toBe("old");
    held.release();
  });
});
