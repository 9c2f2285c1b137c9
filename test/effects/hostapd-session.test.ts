// The hostapd session when hostapd_cli cannot run: it says so once, answers "no state" at once, and
// keeps trying with backoff (the tool may be installed later). The session against a real hostapd is
// in test/kernel/observe-cache.test.ts.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { HostapdSession } from "../../src/effects/hostapd-session.js";

describe("a hostapd session without hostapd_cli", () => {
  const dir = mkdtempSync(join(tmpdir(), "bhl-session-"));
  let session: HostapdSession | undefined;
  afterEach(async () => {
    await session?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("reports the missing tool once and answers no state without waiting", async () => {
    const missing: string[] = [];
    const changes: string[] = [];
    const restarts: number[] = [];
    const path = process.env.PATH;
    // stdbuf is found, hostapd_cli is not (it lives in /usr/sbin); the restarts see the same PATH.
    process.env.PATH = "/usr/bin:/bin";
    try {
      session = new HostapdSession({
        ctrlDir: join(dir, "ctrl"),
        iface: "wlan9",
        onChange: (w) => changes.push(w),
        onMissing: (m) => missing.push(m),
        onRestart: (info) => restarts.push(info.restarts),
      });
      for (let i = 0; i < 100 && missing.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(missing).toEqual(["hostapd_cli was not found: install hostapd (apt-get install hostapd)"]);
      expect(session.attached()).toBe(false);
      const t0 = Date.now();
      expect(await session.status()).toBeUndefined();
      expect(Date.now() - t0).toBeLessThan(100);
      // Tried again with backoff, and not told again.
      for (let i = 0; i < 100 && restarts.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
      expect(restarts.length).toBeGreaterThanOrEqual(2);
      expect(missing).toHaveLength(1);
    } finally {
      process.env.PATH = path;
    }
    expect(changes).toEqual([]);
  });
});
