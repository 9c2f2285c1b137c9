// The apply journal: written before the first kernel write, updated as batches complete, removed when
// the apply is done. A journal found at start means an apply died mid-way: recovery restores the
// pre-state it recorded (see src/apply). Durable: atomic writes, checksummed, corruption reported.
// Progress goes to a small file of its own beside the journal, so the journal (the ops and the
// pre-state: thousands of objects in a large plan) is serialized and synced once per apply, not once
// per batch.
import { rmSync } from "node:fs";
import { join } from "node:path";
import { ownershipFromFile, stateFromFile } from "../../kinds/registry.js";
import type { KernelState, Op, Ownership } from "../../kinds/types.js";
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
const PROGRESS_KIND = "journal-progress";

/** How far the apply of journal `id` got; newer than the journal's own `executed` and `phase`. */
export interface JournalProgress {
  readonly id: string;
  readonly executed: number;
  readonly phase: JournalPhase;
}

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
    stateFromFile(j.preState) !== undefined &&
    typeof j.executed === "number" &&
    (j.phase === "applying" || j.phase === "rolling-back")
  );
}

function isProgress(d: unknown): d is JournalProgress {
  if (typeof d !== "object" || d === null) return false;
  const p = d as Record<string, unknown>;
  return (
    typeof p.id === "string" &&
    typeof p.executed === "number" &&
    (p.phase === "applying" || p.phase === "rolling-back")
  );
}

function progressPath(path: string): string {
  return `${path}.progress`;
}

export function writeJournal(path: string, j: JournalRecord): void {
  writeDurable(path, KIND, VERSION, j);
}

/** Record progress of the journal at `path` (its `id`): a small durable write. */
export function writeProgress(path: string, p: JournalProgress): void {
  writeDurable(progressPath(path), PROGRESS_KIND, VERSION, p);
}

/**
 * The unfinished journal, if any, with its latest progress (a progress file of another journal is
 * stale and ignored). Throws CorruptFileError (file kept aside) when either file is damaged.
 */
export function readJournal(path: string): JournalRecord | undefined {
  const read = readDurable(path, KIND, VERSION, isJournal);
  if (read === undefined) return undefined;
  const j: JournalRecord = {
    ...read,
    preState: stateFromFile(read.preState)!,
    ...(read.ownership === undefined ? {} : { ownership: ownershipFromFile(read.ownership) }),
  };
  const p = readDurable(progressPath(path), PROGRESS_KIND, VERSION, isProgress);
  return p?.id === j.id ? { ...j, executed: p.executed, phase: p.phase } : j;
}

/** The journal goes first: a progress file left alone names a journal that no longer exists. */
export function removeJournal(path: string): void {
  rmSync(path, { force: true });
  rmSync(progressPath(path), { force: true });
}
