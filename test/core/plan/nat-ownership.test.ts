import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { computeDesired } from "../../../src/core/plan/desired.js";
import { plannerInputs } from "../../../src/core/plan/inputs.js";
import { loadPolicyTexts } from "../../../src/policy/load.js";
import type { EffectivePolicy } from "../../../src/policy/types.js";
import { node, up } from "../../support/plan-fixtures.js";

const DEMO = readFileSync(new URL("../../../examples/lab-demo.yaml", import.meta.url), "utf8");

function load(text: string): EffectivePolicy {
  const r = loadPolicyTexts([{ file: "demo.yaml", text }]);
  if (!r.ok) throw new Error(r.diagnostics.map((d) => d.summary).join("; "));
  return r.policy;
}

describe("hotspot NAT: desired state and ownership agree", () => {
  const variants: [string, string, boolean][] = [
    ["the demo (nat: true, activate: always)", DEMO, true],
    ["nat: false", DEMO.replace("  nat: true", "  nat: false"), false],
    ["activate: never", DEMO.replace("activate: always", "activate: never"), false],
    ["activate: when-no-uplink", DEMO.replace("activate: always", "activate: when-no-uplink"), true],
  ];
  for (const [name, text, nat] of variants)
    it(`${name}: NAT planned ${nat ? "with" : "without"} ip_forward owned, every desired sysctl owned`, () => {
      const policy = load(text);
      const inputs = plannerInputs(policy, node());
      expect(inputs.nat !== undefined).toBe(nat);
      expect(inputs.ownership.sysctls.includes("net.ipv4.ip_forward")).toBe(nat);
      const d = computeDesired({
        uplinks: inputs.uplinks,
        observed: node(),
        health: Object.fromEntries(policy.uplinks.map((u) => [u.name, up()])),
        usage: {},
        params: inputs.params,
        families: [4],
        routing: inputs.routing,
        ...(inputs.nat === undefined ? {} : { nat: inputs.nat }),
      });
      for (const s of d.state.sysctl) expect(inputs.ownership.sysctls).toContain(s.name);
      expect(d.state["nft-table"].map((t) => `${t.family} ${t.name}`)).toEqual(nat ? ["inet backhaul"] : []);
      expect(inputs.ownership.nftTable).toEqual({ family: "inet", name: "backhaul" });
    });
});
