// Which interface an uplink with `match` stands for, over the links of the sysfs fixture node (real
// drivers: rndis_host, cdc_ether, cdc_ncm, ipheth, qmi_wwan, ...) as observe would report them.
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { plannerInputs } from "../../../src/core/plan/inputs.js";
import { run } from "../../../src/effects/exec.js";
import { parseLinks } from "../../../src/kinds/ip/link.js";
import { factsCommand, parseFacts } from "../../../src/kinds/sysfs.js";
import type { KernelState } from "../../../src/kinds/types.js";
import { emptyState } from "../../../src/kinds/registry.js";
import { loadPolicyTexts } from "../../../src/policy/load.js";
import type { EffectivePolicy } from "../../../src/policy/types.js";

const ROOT = fileURLToPath(new URL("../../fixtures/sysfs/node", import.meta.url));

async function fixtureNode(): Promise<KernelState> {
  const facts = parseFacts((await run(factsCommand(ROOT), { allowFailure: true })).stdout, ROOT);
  const json = [...facts.links.keys()].sort().map((ifname, i) => ({
    ifindex: i + 2,
    ifname,
    flags: ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"],
    mtu: 1500,
    operstate: "UP",
  }));
  return { ...emptyState(), link: parseLinks(json, facts.links) };
}

function policyWith(uplinks: string): EffectivePolicy {
  const r = loadPolicyTexts([
    { file: "p.yaml", text: `version: 1\nprobes:\n  targets: [tcp://192.0.2.1:443]\nuplinks:\n${uplinks}` },
  ]);
  if (!r.ok) throw new Error(r.diagnostics.map((d) => d.summary).join("; "));
  return r.policy;
}

const ifaceOf = (p: EffectivePolicy, observed: KernelState) =>
  Object.fromEntries(plannerInputs(p, observed).uplinks.map((u) => [u.name, u.iface]));

describe("an uplink's match finds its interface at run time", () => {
  it("by driver: each tether driver picks its own interface, whatever its name", async () => {
    const observed = await fixtureNode();
    const p = policyWith(
      ["rndis_host", "cdc_ether", "cdc_ncm", "ipheth", "qmi_wwan"]
        .map((d) => `  - name: ${d.replace("_", "-")}\n    match: { driver: ${d} }\n    addressing: dhcp\n`)
        .join(""),
    );
    expect(ifaceOf(p, observed)).toEqual({
      "rndis-host": "usb0",
      "cdc-ether": "enx0a1b2c3d4e5f",
      "cdc-ncm": "usb1",
      ipheth: "eth1",
      "qmi-wwan": "wwan0",
    });
  });

  it("by name glob and detected kind together; an interface claimed by one uplink is not another's", async () => {
    const observed = await fixtureNode();
    const p = policyWith(
      [
        "  - name: named\n    interface: usb0\n    addressing: dhcp\n",
        "  - name: any-usb\n    match: { name: 'usb*', kind: usb-tether }\n    addressing: dhcp\n",
        "  - name: iphone\n    match: { kind: usb-tether, driver: ipheth }\n    addressing: dhcp\n",
      ].join(""),
    );
    expect(ifaceOf(p, observed)).toEqual({ named: "usb0", "any-usb": "usb1", iphone: "eth1" });
  });

  it("finding nothing leaves the uplink unresolved and gives it no DHCP client", async () => {
    const observed = await fixtureNode();
    const p = policyWith("  - name: pan\n    match: { driver: bnep }\n    addressing: dhcp\n");
    const inputs = plannerInputs(p, observed);
    expect(inputs.unmatched).toEqual(["pan"]);
    expect(inputs.uplinks[0]?.iface).toBe("match:bnep");
    expect(inputs.dhcp).toBeUndefined();
    // Plugged in: the same policy resolves it and runs the client on it.
    const plugged = {
      ...observed,
      link: [
        ...observed.link,
        ...parseLinks(
          [{ ifindex: 99, ifname: "bnep0", flags: ["UP", "LOWER_UP"], mtu: 1500, operstate: "UP" }],
          new Map([["bnep0", { name: "bnep0", wireless: false, driver: "bnep" }]]),
        ),
      ],
    };
    const again = plannerInputs(p, plugged);
    expect(again.uplinks[0]).toMatchObject({ iface: "bnep0", class: "bt-pan" });
    expect(again.dhcp?.uplinks).toEqual([{ name: "pan", iface: "bnep0" }]);
  });
});
