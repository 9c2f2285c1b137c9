// A change applied with --confirm-within waits here for `backhaul confirm`. The record holds all a
// revert needs (the owned pre-state and the ownership it was observed under), so the detached reverter
// and any later apply can undo the change without the policy or the CLI process that made it.
import { rmSync } from "node:fs";
import { join } from "node:path";
import { ownershipFromFile, stateFromFile } from "../../kinds/registry.js";
import type { KernelState, Ownership } from "../../kinds/types.js";
import { readDurable, writeDurable } from "./durable-file.js";

export interface PendingChange {
  readonly id: string;
  readonly createdAt: string;
  /** When the change is reverted unless confirmed (ISO time). */
  readonly deadline: string;
  readonly netns: string | null;
  readonly ownership: Ownership;
  readonly preState: KernelState;
  /** The detached process that reverts at the deadline. */
  readonly reverter?: { readonly pid: number; readonly startTime: number };
}

const KIND = "pending-change";
const VERSION = 1;

export function pendingPath(stateDir: string, netns: string | undefined): string {
  return join(stateDir, "pending", `${netns ?? "host"}.json`);
}

function isPending(d: unknown): d is PendingChange {
  if (typeof d !== "object" || d === null) return false;
  const p = d as Record<string, unknown>;
  return (
    typeof p.id === "string" &&
    typeof p.deadline === "string" &&
    !Number.isNaN(Date.parse(p.deadline)) &&
    typeof p.ownership === "object" &&
    p.ownership !== null &&
    stateFromFile(p.preState) !== undefined
  );
}

export function writePending(path: string, p: PendingChange): void {
  writeDurable(path, KIND, VERSION, p);
}

export function readPending(path: string): PendingChange | undefined {
  const p = readDurable(path, KIND, VERSION, isPending);
  return p === undefined
    ? undefined
    : { ...p, ownership: ownershipFromFile(p.ownership), preState: stateFromFile(p.preState)! };
}

export function removePending(path: string): void {
  rmSync(path, { force: true });
}
