// Every fault the lab makes shows up in backhaul's observation of the node as the expected change,
// and nothing else changes: the lab and the observers agree on what the kernel holds.
import { describe, expect, it } from "vitest";
import { keyOf } from "../../src/kinds/registry.js";
import type { KernelObject, KernelState, KindName } from "../../src/kinds/types.js";
import { observe } from "../../src/effects/observe.js";
import { demoTopology, LAB_TOOLS, requireKernel, useLab } from "../helpers/kernel.js";

/** Objects added, removed or changed between two observations, as "kind key" strings. */
function changes(
  before: KernelState,
  after: KernelState,
): { added: string[]; removed: string[]; changed: string[] } {
  const index = (s: KernelState) =>
    new Map(
      (Object.keys(s) as KindName[]).flatMap((k) =>
        (s[k] as readonly KernelObject[]).map((o) => [`${k} ${keyOf(o)}`, JSON.stringify(o)] as const),
      ),
    );
  const a = index(before);
  const b = index(after);
  return {
    added: [...b.keys()].filter((k) => !a.has(k)).sort(),
    removed: [...a.keys()].filter((k) => !b.has(k)).sort(),
    changed: [...b.keys()].filter((k) => a.has(k) && a.get(k) !== b.get(k)).sort(),
  };
}

describe.skipIf(!requireKernel(LAB_TOOLS))("lab faults as backhaul observes them", () => {
  const lab = useLab(demoTopology());
  const look = () => observe({ netns: lab().node, kinds: ["link", "address", "rule", "route"] });

  it("observes the demo node: its four interfaces with carrier and their addresses", async () => {
    const s = await look();
    const links = s.link.filter((l) => l.name !== "lo");
    expect(links.map((l) => [l.name, l.adminUp, l.carrier])).toEqual([
      ["eth0", true, true],
      ["usb0", true, true],
      ["wlan0", true, true],
      ["wwan0", true, true],
    ]);
    expect(
      s.address.filter((a) => a.family === 4 && a.dev !== "lo").map((a) => `${a.dev} ${a.local}`),
    ).toEqual(expect.arrayContaining(["eth0 100.64.1.2/24", "wwan0 100.64.2.2/24", "wlan0 100.64.50.1/24"]));
  });

  it("carrier loss turns the link's carrier off and changes nothing else; its return restores it", async () => {
    const before = await look();
    await lab().carrierLoss("wwan0");
    const during = await look();
    const c = changes(before, during);
    expect(c.added).toEqual([]);
    expect(c.removed).toEqual([]);
    expect(c.changed).toEqual(["link wwan0"]);
    expect(during.link.find((l) => l.name === "wwan0")).toMatchObject({ adminUp: true, carrier: false });
    await lab().carrierReturn("wwan0");
    expect(changes(before, await look())).toEqual({ added: [], removed: [], changed: [] });
  });

  it("a gray failure is invisible to observation: the carrier stays and nothing changes", async () => {
    const before = await look();
    await lab().grayFailure("eth0");
    try {
      expect(changes(before, await look())).toEqual({ added: [], removed: [], changed: [] });
    } finally {
      await lab().heal("eth0");
    }
  });

  it("address loss removes the address and the connected route with it", async () => {
    const before = await look();
    await lab().removeAddress("eth0");
    const c = changes(before, await look());
    expect(c.removed).toEqual(expect.arrayContaining(["address eth0 100.64.1.2/24"]));
    expect(c.removed.every((k) => k.includes("eth0") || k.startsWith("route 4 254 100.64.1.0/24"))).toBe(
      true,
    );
    expect(c.added).toEqual([]);
    await lab().restoreAddress("eth0");
    expect(changes(before, await look()).removed).toEqual([]);
  });

  it("a foreign rule and a foreign route added behind backhaul's back appear as such", async () => {
    const before = await look();
    await lab().addForeignRule(["priority", "500", "from", "100.64.1.2", "lookup", "77"]);
    await lab().addForeignRoute(["198.51.100.0/24", "via", "100.64.2.1", "dev", "wwan0", "table", "77"]);
    const after = await look();
    const c = changes(before, after);
    expect(c.added).toHaveLength(2);
    expect(after.rule.find((r) => r.priority === 500)).toMatchObject({
      from: "100.64.1.2/32",
      table: 77,
      action: "lookup",
    });
    expect(after.route.find((r) => r.table === 77)).toMatchObject({
      dst: "198.51.100.0/24",
      gateway: "100.64.2.1",
      dev: "wwan0",
    });
  });

  it("an interface removed disappears with its addresses and routes, and comes back when re-created", async () => {
    const before = await look();
    await lab().removeInterface("wwan0");
    const gone = await look();
    expect(gone.link.some((l) => l.name === "wwan0")).toBe(false);
    expect(gone.address.some((a) => a.dev === "wwan0")).toBe(false);
    expect(gone.route.some((r) => r.dev === "wwan0")).toBe(false);
    await lab().restoreInterface("wwan0");
    const back = await look();
    expect(back.link.find((l) => l.name === "wwan0")).toMatchObject({ adminUp: true, carrier: true });
    expect(back.address.map((a) => `${a.dev} ${a.local}`)).toEqual(
      before.address.map((a) => `${a.dev} ${a.local}`),
    );
  });
});
