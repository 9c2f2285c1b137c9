import { describe, expect, it } from "vitest";
import { leaseFromEnv } from "../../src/effects/dhcp/lease-hook.js";

describe("the lease hook's reading of udhcpc's environment", () => {
  const env = {
    interface: "usb0",
    ip: "100.64.3.100",
    mask: "24",
    router: "100.64.3.1 100.64.3.2",
    dns: "9.9.9.9 x",
    lease: "3600",
  };

  it("takes the address, prefix, first router, the valid DNS servers and the lease time", () => {
    expect(leaseFromEnv(env)).toEqual({
      ok: true,
      lease: { address: "100.64.3.100/24", router: "100.64.3.1", dns: ["9.9.9.9"], seconds: 3600 },
    });
    expect(leaseFromEnv({ ...env, router: undefined })).toMatchObject({
      ok: true,
      lease: { address: "100.64.3.100/24" },
    });
  });

  it("refuses any value that is not what a lease holds, quoting it briefly", () => {
    for (const bad of [
      { ip: "100.64.3.300" },
      { ip: "100.64.3.1; reboot" },
      { mask: "33" },
      { mask: "0" },
      { router: "gw" },
      { lease: "0" },
      { lease: "1h" },
      { ip: "x".repeat(10_000) },
    ]) {
      const r = leaseFromEnv({ ...env, ...bad });
      expect(r.ok, JSON.stringify(bad).slice(0, 40)).toBe(false);
      if (!r.ok) expect(r.reason.length).toBeLessThan(120);
    }
  });
});
