// Every example validates, and its effective policy is pinned.
import { readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { loadPolicy } from "../../src/policy/load.js";
import { ownershipOf } from "../../src/policy/ownership.js";

const dir = new URL("../../examples/", import.meta.url).pathname;
const examples = readdirSync(dir)
  .filter((f) => f.endsWith(".yaml"))
  .sort();

async function load(name: string) {
  const r = await loadPolicy(dir + name);
  if (!r.ok) throw new Error(`${name}: ${r.diagnostics.map((d) => d.summary).join("; ")}`);
  return r;
}

describe("examples", () => {
  it("include the four the issue asks for", () => {
    expect(examples).toEqual(
      expect.arrayContaining(["home-office.yaml", "rural.yaml", "vehicle.yaml", "lab-demo.yaml"]),
    );
  });

  it.each(examples)("%s validates and its effective policy is pinned", async (name) => {
    const r = await load(name);
    expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    expect(r.policy).toMatchSnapshot();
  });

  it("the lab demo's policy matches DEMO-TOPOLOGY: uplinks, gateways, budget, hotspot, probing, ranges", async () => {
    const { policy: p } = await load("lab-demo.yaml");
    expect(p.uplinks.map((u) => [u.interface, u.kind, u.gateway, u.addressing, u.use])).toEqual([
      ["eth0", "ethernet", "100.64.1.1", "external", "normal"],
      ["wwan0", "lte", "100.64.2.1", "external", "normal"],
      ["usb0", "usb-tether", "auto", "dhcp", "emergency-only"],
    ]);
    expect(p.uplinks[1]!.metered).toMatchObject({ budget: 2 * 1024 ** 3, period: "monthly" });
    expect(p.hotspot).toMatchObject({ interface: "wlan0", address: "100.64.50.1/24", driver: "wired" });
    expect(p.probes.targets.map((t) => t.url)).toEqual([
      "tcp://198.51.100.10:443",
      "http://198.51.100.10/generate_204",
    ]);
    expect(p.probes.targets[1]).toMatchObject({ expectStatus: 204 });
    expect([p.probes.interval, p.probes.timeout]).toEqual([250, 200]);
    expect(Object.values(p.probes.holdDown).every((ms) => ms <= 1000)).toBe(true);
    expect(p.routing).toMatchObject({
      tables: { min: 100, max: 199 },
      priorities: { min: 1000, max: 1099 },
      protocol: 201,
    });
    // The lab's client has 100.64.50.10: the pool must not hand it out again.
    const last = (ip: string) => Number(ip.split(".")[3]);
    expect(last(p.hotspot!.dhcp.start)).toBeGreaterThan(10);
  });

  it("ownership comes from the uplink, routing, QoS and hotspot parts", async () => {
    const { policy } = await load("home-office.yaml");
    expect(ownershipOf(policy)).toEqual({
      protocol: 201,
      tables: { min: 100, max: 199 },
      priorities: { min: 1000, max: 1099 },
      qosInterfaces: ["eth0", "wwan0"],
      nftTable: { family: "inet", name: "backhaul" },
      sysctls: ["net.ipv4.conf.eth0.rp_filter", "net.ipv4.conf.wwan0.rp_filter"],
      uplinkInterfaces: ["eth0", "wwan0"],
      addresses: [],
    });
    const lab = ownershipOf((await load("lab-demo.yaml")).policy);
    expect(lab.sysctls).toContain("net.ipv4.ip_forward");
    expect(lab.qosInterfaces).toEqual([]);
    // The demo's hotspot is raised always: its address is ours to put on wlan0.
    expect(lab.addresses).toEqual(["wlan0 100.64.50.1/24"]);
  });
});
