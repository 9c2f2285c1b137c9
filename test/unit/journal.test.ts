import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CorruptFileError } from "../../src/state/durable-file.js";
import {
  journalPath,
  readJournal,
  removeJournal,
  writeJournal,
  type JournalRecord,
} from "../../src/state/journal.js";
import { emptyState } from "../../src/model/types.js";

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

  it("reports a damaged journal and keeps it for inspection", () => {
    const dir = mkdtempSync(join(tmpdir(), "bh-journal-"));
    const p = journalPath(dir, undefined);
    writeJournal(p, record);
    writeFileSync(p, readFileSync(p, "utf8").replace('"executed": 0', '"executed": 5'));
    expect(() => readJournal(p)).toThrow(CorruptFileError);
  });
});
