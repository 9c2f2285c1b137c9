import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openWriter, WriterRefused } from "../../src/effects/apply/writer.js";
import { acquireLock, currentHolder, lockPath } from "../../src/effects/state/lock.js";
import { loadPolicyTexts } from "../../src/policy/load.js";

function policyIn(stateDir: string) {
  const text = `uplinks:\n  - name: wan\n    interface: eth0\nprobes:\n  targets: ["icmp://192.0.2.1"]\ndaemon:\n  stateDir: ${stateDir}\n`;
  const r = loadPolicyTexts([{ file: "policy.yaml", text }]);
  if (!r.ok) throw new Error(JSON.stringify(r.diagnostics));
  return r.policy;
}

describe("becoming the writer", () => {
  it("is refused, naming the holder, while another writer holds the lock, and takes nothing", async () => {
    const stateDir = mkdtempSync(join(tmpdir(), "bh-writer-"));
    const path = lockPath(stateDir, "bhwtest");
    const held = acquireLock(path, "apply");
    try {
      const err = await openWriter(policyIn(stateDir), "bhwtest", "run").then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(WriterRefused);
      expect((err as WriterRefused).reason).toBe("locked");
      expect((err as Error).message).toContain(held.record.id);
      expect(currentHolder(path)?.id).toBe(held.record.id);
    } finally {
      held.release();
    }
  });
});
