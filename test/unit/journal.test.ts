import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CorruptFileError } from "../../src/effects/state/durable-file.js";
import {
  journalPath,
  readJournal,
  removeJournal,
  writeJournal,
  writeProgress,
  type JournalRecord,
} from "../../src/effects/state/journal.js";
import { emptyState } from "../../src/kinds/types.js";

const record: JournalRecord = {
  id: "j1",
  createdAt: "2026-11-23T12:00:00.000Z",
  netns: "bhlx-node",
  policyDigest: "abc",
  ops: [
    {
      op: "add",
      after: { kind: "rule", family: 4, priority: 1000, action: "lookup", table: 100, protocol: 201 },
    },
  ],
  preState: emptyState(),
  executed: 0,
  phase: "applying",
};

describe("the apply journal", () => {
  it("keeps one file per namespace and round-trips its record", () => {
    const dir = mkdtempSync(join(tmpdir(), "bh-journal-"));
    const p = journalPath(dir, "bhlx-node");
    expect(p).toBe(join(dir, "journal", "bhlx-node.json"));
    expect(readJournal(p)).toBeUndefined();
    writeJournal(p, record);
    writeJournal(p, { ...record, executed: 1 });
    expect(readJournal(p)).toEqual({ ...record, executed: 1 });
    removeJournal(p);
    expect(readJournal(p)).toBeUndefined();
  });

  it("reads a journal an earlier version wrote: kinds and ownership fields it did not know are empty", () => {
    const dir = mkdtempSync(join(tmpdir(), "bh-journal-"));
    const p = journalPath(dir, "bhlx-node");
    const { conntrack: _, ...olderState } = emptyState();
    const ownership = {
      protocol: 201,
      tables: { min: 100, max: 199 },
      priorities: { min: 1000, max: 1099 },
      qosInterfaces: [],
      nftTable: { family: "inet" as const, name: "backhaul" },
      sysctls: [],
    };
    writeJournal(p, { ...record, preState: olderState as never, ownership: ownership as never });
    expect(readJournal(p)).toEqual({
      ...record,
      preState: emptyState(),
      ownership: { ...ownership, uplinkInterfaces: [], addresses: [] },
    });
  });

  it("reads progress from its own file, only when it belongs to the journal, and removes both", () => {
    const dir = mkdtempSync(join(tmpdir(), "bh-journal-"));
    const p = journalPath(dir, "bhlx-node");
    writeJournal(p, record);
    writeProgress(p, { id: "another", executed: 7, phase: "rolling-back" });
    expect(readJournal(p)).toEqual(record);
    writeProgress(p, { id: record.id, executed: 1, phase: "rolling-back" });
    expect(readJournal(p)).toEqual({ ...record, executed: 1, phase: "rolling-back" });
    removeJournal(p);
    expect(readJournal(p)).toBeUndefined();
    expect(readdirSync(join(dir, "journal")).filter((f) => !f.startsWith("."))).toEqual([]);
  });

  it("reports a damaged progress file and keeps it for inspection", () => {
    const dir = mkdtempSync(join(tmpdir(), "bh-journal-"));
    const p = journalPath(dir, undefined);
    writeJournal(p, record);
    writeProgress(p, { id: record.id, executed: 1, phase: "applying" });
    writeFileSync(
      `${p}.progress`,
      readFileSync(`${p}.progress`, "utf8").replace('"executed": 1', '"executed": 5'),
    );
    expect(() => readJournal(p)).toThrow(CorruptFileError);
  });

  it("reports a damaged journal and keeps it for inspection", () => {
    const dir = mkdtempSync(join(tmpdir(), "bh-journal-"));
    const p = journalPath(dir, undefined);
    writeJournal(p, record);
    writeFileSync(p, readFileSync(p, "utf8").replace('"executed": 0', '"executed": 5'));
    expect(() => readJournal(p)).toThrow(CorruptFileError);
  });
});
