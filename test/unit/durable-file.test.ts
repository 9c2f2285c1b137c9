import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { CorruptFileError, readDurable, writeDurable } from "../../src/effects/state/durable-file.js";

const isRecord = (d: unknown): d is Record<string, unknown> => typeof d === "object" && d !== null;

describe("durable files", () => {
  it("round-trip any JSON value and leave no temp file behind", () => {
    const dir = mkdtempSync(join(tmpdir(), "bh-durable-"));
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (data) => {
        const p = join(dir, "state.json");
        writeDurable(p, "state", 1, data);
        const back = readDurable(p, "state", 1, isRecord);
        expect(back).toEqual(JSON.parse(JSON.stringify(data)));
      }),
      { numRuns: 200 },
    );
    expect(readdirSync(dir)).toEqual(["state.json"]);
  });

  it("return undefined for a missing file", () => {
    const dir = mkdtempSync(join(tmpdir(), "bh-durable-"));
    expect(readDurable(join(dir, "nope.json"), "state", 1, isRecord)).toBeUndefined();
  });

  it.each([
    ["truncated JSON", (t: string) => t.slice(0, t.length / 2), "not valid JSON"],
    ["a flipped value", (t: string) => t.replace('"eth0"', '"eth1"'), "checksum mismatch"],
    [
      "another kind of file",
      (t: string) => t.replace('"backhaul": "state"', '"backhaul": "journal"'),
      "expected a state file",
    ],
  ])("move a file with %s aside and report it instead of resetting it", (_name, corrupt, why) => {
    const dir = mkdtempSync(join(tmpdir(), "bh-durable-"));
    const p = join(dir, "state.json");
    writeDurable(p, "state", 1, { active: "eth0" });
    const corrupted = corrupt(readFileSync(p, "utf8"));
    writeFileSync(p, corrupted);
    let err: unknown;
    try {
      readDurable(p, "state", 1, isRecord);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CorruptFileError);
    expect((err as CorruptFileError).message).toContain(why);
    expect(existsSync(p)).toBe(false);
    expect(readFileSync((err as CorruptFileError).keptAs, "utf8")).toBe(corrupted);
  });
});
