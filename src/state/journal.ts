// The apply journal: written before the first kernel write, updated as batches complete, removed when
// the apply is done. A journal found at start means an apply died mid-way: recovery restores the
// pre-state it recorded (see src/apply). Durable: atomic writes, checksummed, corruption reported.
import { rmSync } from "node:fs";
import { join } from "node:path";
import type { KernelState, Op, Ownership } from "../model/types.js";
import { readDurable, writeDurable } from "./durable-file.js";

export type JournalPhase = "applying" | "rolling-back";

export interface JournalRecord {
  readonly id: string;
  readonly createdAt: string;
  readonly netns: string | null;
  readonly policyDigest: string;
  readonly ops: readonly Op[];
  /** The owned state observed before the first write: what recovery restores. */
  readonly preState: KernelState;
  /** How many ops (a prefix of `ops`) are known to have been executed. */
  readonly executed: number;
  readonly phase: JournalPhase;
  /** What counted as owned when the pre-state was taken: recovery restores under the same rules. */
  readonly ownership?: Ownership;
}

const KIND = "journal";
const VERSION = 1;

export function journalPath(stateDir: string, netns: string | undefined): string {
  return join(stateDir, "journal", `${netns ?? "host"}.json`);
}

function isJournal(d: unknown): d is JournalRecord {
  if (typeof d !== "object" || d === null) return false;
  const j = d as Record<string, unknown>;
  return (
    typeof j.id === "string" &&
    typeof j.policyDigest === "string" &&
    Array.isArray(j.ops) &&
    typeof j.preState === "object" &&
    j.preState !== null &&
    typeof j.executed === "number" &&
    (j.phase === "applying" || j.phase === "rolling-back")
  );
}

export function writeJournal(path: string, j: JournalRecord): void {
  writeDurable(path, KIND, VERSION, j);
}

/** The unfinished journal, if any. Throws CorruptFileError (file kept aside) when it is damaged. */
export function readJournal(path: string): JournalRecord | undefined {
  return readDurable(path, KIND, VERSION, isJournal);
}

export function removeJournal(path: string): void {
  rmSync(path, { force: true });
}
