// apply --confirm-when-healthy: which paths must pass, and the option errors that stop apply before it
// reads anything (the lab tests in test/kernel/apply-healthy.test.ts cover the behaviour end to end).
import { describe, expect, it } from "vitest";
import { pathsToProbe } from "../../src/effects/probe/confirm-healthy.js";
import { runApply } from "../../src/cli/commands/apply.js";
import type { Selection, UplinkVerdict } from "../../src/core/selection/types.js";

const verdict = (name: string, iface: string, address?: string): UplinkVerdict => ({
  name,
  iface,
  attached: address !== undefined,
  usable: address !== undefined,
  attachments:
    address === undefined
      ? []
      : [{ family: 4, address, gateway: "100.64.1.1", onlink: false, gatewaySource: "policy" }],
  reason: "",
});

const selection = (active: string[], verdicts: UplinkVerdict[]): Selection => ({
  strategy: "failover",
  active: active.map((name) => ({ name, weight: 1 })),
  ranked: active,
  verdicts,
  switched: false,
  reason: "",
  why: "",
});

describe("--confirm-when-healthy", () => {
  it("probes each active uplink's own path from its address, then the general path unbound", () => {
    const s = selection(
      ["lte"],
      [verdict("fibre", "eth0", "100.64.1.2/24"), verdict("lte", "wwan0", "100.64.2.2/24")],
    );
    expect(pathsToProbe(s)).toEqual([
      { label: "lte's own path (from 100.64.2.2)", source: "100.64.2.2" },
      { label: "the general path", source: undefined },
    ]);
  });

  it("probes the uplinks a saved plan makes active, not those of today's selection", () => {
    const s = selection(
      ["fibre"],
      [verdict("fibre", "eth0", "100.64.1.2/24"), verdict("lte", "wwan0", "100.64.2.2/24")],
    );
    expect(pathsToProbe(s, ["lte"]).map((p) => p.source)).toEqual(["100.64.2.2", undefined]);
  });

  it("has nothing to probe through when no uplink is active", () => {
    expect(pathsToProbe(selection([], [verdict("fibre", "eth0")]))).toEqual([]);
  });

  const apply = async (o: Parameters<typeof runApply>[1]) => {
    let err = "";
    const code = await runApply("/nonexistent/policy.yaml", o, {
      out: () => undefined,
      err: (t) => (err += t),
    });
    return { code, err };
  };

  it("refuses a time that is not a duration, saying how to write one", async () => {
    const r = await apply({ confirmWhenHealthy: "policy.yaml" });
    expect(r.code).toBe(1);
    expect(r.err).toContain("--confirm-when-healthy policy.yaml:");
    expect(r.err).toContain("write the time as --confirm-when-healthy=90s");
  });

  it("refuses less than a second, and refuses it together with --confirm-within", async () => {
    expect((await apply({ confirmWhenHealthy: "500ms" })).err).toContain(
      "--confirm-when-healthy must be at least 1s",
    );
    expect((await apply({ confirmWhenHealthy: true, confirmWithin: "10s" })).err).toContain(
      "give --confirm-within or --confirm-when-healthy, not both",
    );
  });
});
