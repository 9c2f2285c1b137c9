// A policy directory read while a git sync tool replaces it, for real: a writer process renames files
// in one by one, or swaps a symlink to a new copy (git-sync), revision after revision, while the
// loader loads over and over. Every load that succeeds is entirely one revision; one that does not
// says the directory kept changing.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadPolicy } from "../../src/policy/load.js";
import { CONSISTENCY } from "../../src/policy/source.js";
import { policyRevision, revisionOf } from "../support/policy-revision.js";

const WRITER = new URL("../support/policy-writer.ts", import.meta.url).pathname;
const RUN_MS = 5_000;

const tmp = mkdtempSync(join(tmpdir(), "bh-consistent-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function writeRevision(dir: string, r: number): void {
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(policyRevision(r))) writeFileSync(join(dir, name), text);
}

interface Outcome {
  readonly loads: number;
  readonly revisions: readonly number[];
  readonly mixed: number;
  readonly refusals: readonly string[];
  readonly written: number;
}

/** Load `path` over and over for RUN_MS while the writer works on `target` in `mode`. */
async function loadWhileWriting(mode: "rename" | "swap", target: string, path: string): Promise<Outcome> {
  const writer = spawn(process.execPath, ["--import", "tsx", WRITER, mode, target], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  writer.stdout.on("data", (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((ok) => writer.on("exit", ok));
  const revisions: number[] = [];
  const refusals: string[] = [];
  let mixed = 0;
  let loads = 0;
  const end = Date.now() + RUN_MS;
  try {
    while (Date.now() < end) {
      const r = await loadPolicy(path);
      loads++;
      if (!r.ok) {
        refusals.push(...r.diagnostics.map((d) => `${d.code}: ${d.summary}`));
        continue;
      }
      const rev = revisionOf(r.policy);
      if (rev === undefined) mixed++;
      else revisions.push(rev);
    }
  } finally {
    writer.kill("SIGTERM");
  }
  expect(await exited).toBe(0);
  return { loads, revisions, mixed, refusals, written: Number(out.trim()) };
}

/** Loads that overlapped a writer, each of one whole revision, in the order they were written. */
function expectWholeRevisions(o: Awaited<ReturnType<typeof loadWhileWriting>>): void {
  // The writer really overlapped the loads: many revisions, and the loads saw several of them.
  expect(o.written).toBeGreaterThan(10);
  expect(new Set(o.revisions).size).toBeGreaterThan(3);
  expect(o.mixed).toBe(0);
  for (const f of o.refusals) expect(f).toMatch(/^policy-changing: .* changed while it was read/);
  // Revisions only move forward.
  expect([...o.revisions].sort((a, b) => a - b)).toEqual(o.revisions);
}

describe("a policy directory replaced while it is read", () => {
  it("by files renamed in one by one: every load is one whole revision", async () => {
    const dir = join(tmp, "renamed");
    writeRevision(dir, 0);
    expectWholeRevisions(await loadWhileWriting("rename", dir, dir));
  }, 30_000);

  it("by a symlink swapped to a new copy, the old one removed (git-sync): every load is one whole revision", async () => {
    const base = join(tmp, "swapped");
    writeRevision(join(base, "rev-0"), 0);
    const link = join(base, "policy");
    symlinkSync("rev-0", link);
    expectWholeRevisions(await loadWhileWriting("swap", link, link));
  }, 30_000);

  it("names the directory's files as the operator knows them, not where a symlink leads", async () => {
    const base = join(tmp, "named");
    writeRevision(join(base, "rev-7"), 7);
    writeFileSync(join(base, "rev-7", "40-bad.yaml"), "probes: [\n");
    symlinkSync("rev-7", join(base, "policy"));
    const r = await loadPolicy(join(base, "policy"));
    expect(!r.ok && r.diagnostics.map((d) => [d.code, d.location?.file])).toEqual([
      ["yaml-syntax", join(base, "policy", "40-bad.yaml")],
    ]);
  });

  it("reports a directory that never stops changing, after a bounded number of reads", async () => {
    const dir = join(tmp, "restless");
    writeRevision(dir, 0);
    let r = 0;
    // Faster than the settle time: never quiet long enough to be read.
    const timer = setInterval(() => writeRevision(dir, ++r), CONSISTENCY.settleMs / 4);
    try {
      const started = Date.now();
      const loaded = await loadPolicy(dir);
      expect(loaded.ok).toBe(false);
      expect(!loaded.ok && loaded.diagnostics.map((d) => [d.code, d.summary])).toEqual([
        [
          "policy-changing",
          `${dir} changed while it was read, ${CONSISTENCY.attempts} times in a row: no consistent revision was read`,
        ],
      ]);
      expect(Date.now() - started).toBeLessThan(CONSISTENCY.attempts * CONSISTENCY.settleMs * 3);
    } finally {
      clearInterval(timer);
    }
  }, 30_000);
});
