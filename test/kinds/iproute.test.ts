import { describe, expect, it } from "vitest";
import { batchArgv, renderOps } from "../../src/kinds/ip/batch.js";
import { validInterfaceName } from "../../src/kinds/ip/common.js";
import { RenderError } from "../../src/kinds/driver.js";
import { link, route, rule } from "../core/model-kernel/fixtures.js";

describe("renderOps", () => {
  it("renders a multipath route with table, protocol, metric, on-link and weights", () => {
    const r = route("0.0.0.0/0", {
      table: 150,
      metric: 10,
      nexthops: [
        { gateway: "100.64.1.1", dev: "eth0", weight: 2 },
        { gateway: "203.0.113.254", dev: "wwan0", weight: 1, onlink: true },
      ],
    });
    expect(renderOps([{ op: "add", after: r }])).toEqual([
      {
        family: 4,
        lines: [
          "route add 0.0.0.0/0 table 150 proto 200 metric 10 nexthop via 100.64.1.1 dev eth0 weight 2 nexthop via 203.0.113.254 dev wwan0 weight 1 onlink",
        ],
      },
    ]);
  });
  it("renders every rule selector and suppress_prefixlength", () => {
    const r = rule(1000, {
      family: 6,
      not: true,
      from: "2001:db8:1::/64",
      to: "2001:db8::/32",
      iif: "lo",
      oif: "eth0",
      fwmark: 16,
      fwmask: 255,
      suppressPrefixlength: 0,
    });
    expect(renderOps([{ op: "add", after: r }])).toEqual([
      {
        family: 6,
        lines: [
          "rule add not from 2001:db8:1::/64 to 2001:db8::/32 iif lo oif eth0 fwmark 0x10/0xff priority 1000 protocol 200 lookup 254 suppress_prefixlength 0",
        ],
      },
    ]);
  });
  it("changes a route of the same identity with one atomic replace", () => {
    const before = route("0.0.0.0/0", { table: 150, gateway: "100.64.1.1", dev: "eth0" });
    const after = route("0.0.0.0/0", { table: 150, gateway: "100.64.2.1", dev: "wwan0" });
    expect(renderOps([{ op: "change", before, after }])[0]?.lines).toEqual([
      "route replace 0.0.0.0/0 table 150 proto 200 metric 0 via 100.64.2.1 dev wwan0",
    ]);
  });
  it("changes a rule by adding the new one before deleting the old one", () => {
    const lines = renderOps([
      { op: "change", before: rule(1000, { table: 150 }), after: rule(1001, { table: 150 }) },
    ])[0]?.lines;
    expect(lines?.map((l) => l.split(" ").slice(0, 2).join(" "))).toEqual(["rule add", "rule del"]);
  });
  it("groups lines into one batch per family run", () => {
    const b = renderOps([
      { op: "add", after: rule(1000, { table: 150 }) },
      { op: "add", after: rule(1000, { family: 6, table: 150 }) },
      { op: "change", before: link("eth0", { adminUp: false }), after: link("eth0") },
    ]);
    expect(b.map((x) => [x.family, x.lines.length])).toEqual([
      [4, 1],
      [6, 2],
    ]);
    expect(batchArgv(b[1]!)).toEqual(["ip", "-6", "-batch", "-"]);
  });
  it("refuses invalid interface names, addresses and numbers before anything runs", () => {
    expect(validInterfaceName("eth0")).toBe(true);
    for (const bad of ["", "a/b", "a:b", "a b", "sixteen-chars-xx", ".."])
      expect(validInterfaceName(bad)).toBe(false);
    expect(() => renderOps([{ op: "add", after: route("0.0.0.0/0", { dev: "bad name" }) }])).toThrow(
      RenderError,
    );
    expect(() =>
      renderOps([{ op: "add", after: route("0.0.0.0/0", { gateway: "1.2.3", dev: "eth0" }) }]),
    ).toThrow(RenderError);
    expect(() => renderOps([{ op: "add", after: route("198.51.100.1/24", { dev: "eth0" }) }])).toThrow(
      RenderError,
    );
    expect(() => renderOps([{ op: "add", after: route("0.0.0.0/0", { dev: "eth0", table: 1.5 }) }])).toThrow(
      RenderError,
    );
    expect(() => renderOps([{ op: "add", after: link("eth1") }])).toThrow(RenderError);
  });
});
