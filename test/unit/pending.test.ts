// The pending-change record of --confirm-within: durable, self-sufficient, and due at its deadline.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { isDue, pendingWithId } from "../../src/effects/apply/pending-change.js";
import { emptyState } from "../../src/kinds/types.js";
import { CorruptFileError } from "../../src/effects/state/durable-file.js";
import {
  pendingPath,
  readPending,
  writePending,
  type PendingChange,
} from "../../src/effects/state/pending.js";

const dir = mkdtempSync(join(tmpdir(), "bhl-pending-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const record: PendingChange = {
  id: "c1",
  createdAt: "2026-01-01T00:00:00.000Z",
  deadline: "2026-01-01T00:02:00.000Z",
  netns: "bhlx-node",
  ownership: {
    protocol: 201,
    tables: { min: 100, max: 199 },
    priorities: { min: 1000, max: 1099 },
    qosInterfaces: [],
    nftTable: { family: "inet", name: "backhaul" },
    sysctls: [],
    uplinkInterfaces: [],
    addresses: [],
  },
  preState: emptyState(),
};

describe("pending change record", () => {
  it("round-trips, and is found only under its own id", () => {
    const path = pendingPath(dir, "bhlx-node");
    writePending(path, record);
    expect(readPending(path)).toEqual(record);
    expect(pendingWithId(path, "c1")).toEqual(record);
    expect(pendingWithId(path, "other")).toBeUndefined();
  });

  it("is due from its deadline on", () => {
    expect(isDue(record, Date.parse("2026-01-01T00:01:59.999Z"))).toBe(false);
    expect(isDue(record, Date.parse("2026-01-01T00:02:00.000Z"))).toBe(true);
  });

  it("a damaged record is reported and kept aside, never taken as nothing pending", () => {
    const path = pendingPath(dir, "bhly-node");
    writePending(path, record);
    writeFileSync(path, '{"backhaul":"pending-change","version":1,"sha256":"0","data":{}}');
    expect(() => readPending(path)).toThrow(CorruptFileError);
  });
});
