// The fast path's picture of the kernel after a link event: what the kernel itself removes with it.
import { describe, expect, it } from "vitest";
import { patchLink } from "../../../src/core/decide/fast-path.js";
import { node } from "../../support/plan-fixtures.js";

const through = (s: ReturnType<typeof node>, dev: string) => s.route.filter((r) => r.dev === dev);

describe("the kernel after a link event, as the fast path plans on it", () => {
  it("a lost carrier keeps the link's addresses and routes (the kernel marks them linkdown)", () => {
    const s = patchLink(node(), { ifname: "eth0", deleted: false, adminUp: true, carrier: false });
    expect(through(s, "eth0")).toEqual(through(node(), "eth0"));
    expect(s.link.find((l) => l.name === "eth0")).toMatchObject({
      carrier: false,
      operState: "lowerlayerdown",
    });
  });

  it("a link set down keeps its addresses and loses the routes through it, as the kernel flushes them", () => {
    const s = patchLink(node(), { ifname: "eth0", deleted: false, adminUp: false, carrier: false });
    expect(through(node(), "eth0").length).toBeGreaterThan(0);
    expect(through(s, "eth0")).toEqual([]);
    expect(s.address.filter((a) => a.dev === "eth0")).toEqual(node().address.filter((a) => a.dev === "eth0"));
    expect(through(s, "wwan0")).toEqual(through(node(), "wwan0"));
  });

  it("a deleted link takes its addresses and routes with it", () => {
    const s = patchLink(node(), { ifname: "eth0", deleted: true, adminUp: false, carrier: false });
    expect(s.link.map((l) => l.name)).not.toContain("eth0");
    expect(s.address.filter((a) => a.dev === "eth0")).toEqual([]);
    expect(through(s, "eth0")).toEqual([]);
    const withConf = {
      ...node(),
      sysctl: [
        { kind: "sysctl" as const, name: "net.ipv4.conf.eth0.rp_filter", value: "2" },
        { kind: "sysctl" as const, name: "net.ipv4.conf.eth0X.rp_filter", value: "2" },
      ],
    };
    const gone = patchLink(withConf, { ifname: "eth0", deleted: true, adminUp: false, carrier: false });
    expect(gone.sysctl.map((x) => x.name)).toEqual(["net.ipv4.conf.eth0X.rp_filter"]);
  });
});
