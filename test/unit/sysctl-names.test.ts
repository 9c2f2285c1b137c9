import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { confSysctl, sysctlInterface, sysctlNameOfPath, sysctlPath } from "../../src/kinds/sysctl/names.js";

describe("sysctl names in sysctl(8) form", () => {
  it("write a dot inside an interface name as a slash, both ways", () => {
    expect(sysctlNameOfPath("/proc/sys/net/ipv4/conf/eth0.100/rp_filter")).toBe(
      "net.ipv4.conf.eth0/100.rp_filter",
    );
    expect(sysctlPath("net.ipv4.conf.eth0/100.rp_filter")).toBe("/proc/sys/net/ipv4/conf/eth0.100/rp_filter");
    expect(confSysctl(4, "eth0.100", "rp_filter")).toBe("net.ipv4.conf.eth0/100.rp_filter");
  });
  it("give back the interface of a per-interface sysctl, and none for a global one", () => {
    expect(sysctlInterface("net.ipv4.conf.eth0/100.rp_filter")).toBe("eth0.100");
    expect(sysctlInterface("net.ipv6.conf.all.forwarding")).toBe("all");
    expect(sysctlInterface("net.ipv4.ip_forward")).toBeUndefined();
  });
  it("round-trip every per-interface name", () => {
    const iface = fc
      .stringMatching(/^[a-z][a-z0-9.]{0,14}$/)
      .filter((s) => !s.endsWith(".") && !s.includes(".."));
    fc.assert(
      fc.property(iface, fc.constantFrom(4 as const, 6 as const), (i, f) => {
        const name = confSysctl(f, i, "rp_filter");
        expect(sysctlNameOfPath(sysctlPath(name))).toBe(name);
        expect(sysctlInterface(name)).toBe(i);
      }),
      { numRuns: Number(process.env.FC_NUM_RUNS ?? 1000) },
    );
  });
  it("refuse names that would walk out of /proc/sys", () => {
    expect(() => sysctlPath("net..ipv4")).toThrow(/invalid sysctl name/);
  });
});
