// The daemon's policy watch (followPolicy, as `backhaul run` uses it) on a policy directory that a git
// sync tool updates: files renamed in, a symlink swapped to a new copy (git-sync), a copy edited after
// the swap, a bad revision (refused with file:line:col, nothing accepted) and a good one after it.
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { followPolicy } from "../../src/daemon/policy-watch.js";
import type { EffectivePolicy } from "../../src/policy/types.js";
import { policyRevision, revisionOf } from "../support/policy-revision.js";

const tmp = mkdtempSync(join(tmpdir(), "bh-watch-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Files written aside and renamed in, one by one, as a sync tool does. */
function renameIn(dir: string, files: Record<string, string>): void {
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) {
    writeFileSync(join(dir, `.${name}.tmp`), text);
    renameSync(join(dir, `.${name}.tmp`), join(dir, name));
  }
}

/** git-sync's step: a complete copy, the link swapped to it atomically, the old copy removed. */
function swapTo(link: string, rev: string, old?: string): void {
  symlinkSync(rev, `${link}.next`);
  renameSync(`${link}.next`, link);
  if (old !== undefined) rmSync(join(tmp, old), { recursive: true, force: true });
}

async function until(what: string, ok: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("the daemon's policy watch on a directory a git sync tool updates", () => {
  it("follows files renamed in, a symlink swapped, an edit of the new copy; refuses a bad revision", async () => {
    renameIn(join(tmp, "rev-1"), policyRevision(1));
    const link = join(tmp, "policy");
    symlinkSync("rev-1", link);
    const accepted: number[] = [];
    const refused: (readonly string[])[] = [];
    const watch = await followPolicy(link, {
      accept: (p: EffectivePolicy) => accepted.push(revisionOf(p) ?? -1),
      refuse: (errors) => refused.push(errors),
    });
    try {
      const last = (): number | undefined => accepted[accepted.length - 1];
      // Files renamed into the directory the link leads to.
      renameIn(join(tmp, "rev-1"), policyRevision(2));
      await until("revision 2", () => last() === 2);

      // The link swapped to a new copy, the old one removed.
      renameIn(join(tmp, "rev-3"), policyRevision(3));
      swapTo(link, "rev-3", "rev-1");
      await until("revision 3", () => last() === 3);

      // The watch moved with the link: an edit inside the new copy is seen.
      renameIn(join(tmp, "rev-3"), policyRevision(4));
      await until("revision 4", () => last() === 4);

      // A bad revision: refused, at file:line:col under the path the daemon was given.
      renameIn(join(tmp, "rev-5"), { ...policyRevision(5), "20-probes.yaml": "probes:\n  interval: soon\n" });
      const before = accepted.length;
      swapTo(link, "rev-5", "rev-3");
      await until("the refusal", () => refused.length > 0);
      expect(refused[0]!.join("\n")).toContain(`${join(link, "20-probes.yaml")}:2:13`);
      expect(accepted.length).toBe(before);
      expect(accepted.every((r) => r > 0)).toBe(true);

      // And a good one after it.
      renameIn(join(tmp, "rev-6"), policyRevision(6));
      swapTo(link, "rev-6", "rev-5");
      await until("revision 6", () => last() === 6);
    } finally {
      await watch.close();
    }
    // Never a mixed revision (revisionOf gives -1 for one), and only forward.
    expect(accepted).toEqual([...accepted].sort((a, b) => a - b));
    expect(accepted).not.toContain(-1);
  }, 30_000);
});
