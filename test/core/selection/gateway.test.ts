import { describe, expect, it } from "vitest";
import { attach, indexObserved, needsOnlink } from "../../../src/core/selection/gateway.js";
import { emptyState } from "../../../src/kinds/types.js";
import { dhcpClientOf } from "../../../src/kinds/services/dhcp-client.js";
import { addr, link, mainDefault, node, uplink } from "../../support/plan-fixtures.js";

describe("gateway discovery", () => {
  it("takes gateway auto from the uplink's default route in the main table, lowest metric first", () => {
    const s = node();
    const ix = indexObserved({ ...s, route: [...s.route, mainDefault("eth0", "198.51.100.254", 50)] });
    expect(attach(uplink("eth0", "ethernet"), 4, ix)).toEqual({
      ok: true,
      attachment: {
        family: 4,
        address: "198.51.100.2/24",
        gateway: "198.51.100.254",
        onlink: false,
        gatewaySource: "main table",
      },
    });
  });

  it("falls back to the router of the lease our DHCP client holds", () => {
    const client = {
      ...dhcpClientOf("/var/lib/backhaul", "wwan0"),
      pid: 42,
      lease: { address: "100.64.0.2/24", router: "100.64.0.1", dns: [], seconds: 600 },
    };
    const s = { ...node(), route: [], "dhcp-client": [client] };
    const r = attach(uplink("wwan0", "lte"), 4, indexObserved(s));
    expect(r).toMatchObject({ ok: true, attachment: { gateway: "100.64.0.1", gatewaySource: "DHCP lease" } });
  });

  it("records why an uplink without gateway or address has no path", () => {
    const noGw = attach(uplink("wwan0", "lte"), 4, indexObserved({ ...node(), route: [] }));
    expect(noGw).toEqual({
      ok: false,
      reason: "no IPv4 gateway: no default route via wwan0 in the main table and no DHCP lease",
    });
    const noAddr = attach(
      uplink("usb0", "usb-tether"),
      4,
      indexObserved({ ...emptyState(), link: [link("usb0", "usb-tether")] }),
    );
    expect(noAddr).toEqual({ ok: false, reason: "no global IPv4 address on usb0" });
  });

  it("uses a literal gateway from the policy and refuses one of the wrong family", () => {
    const ix = indexObserved(node());
    expect(attach(uplink("eth0", "ethernet", { gateway: "198.51.100.9" }), 4, ix)).toMatchObject({
      ok: true,
      attachment: { gateway: "198.51.100.9", gatewaySource: "policy" },
    });
    expect(attach(uplink("eth0", "ethernet", { gateway: "2001:db8::1" }), 4, ix)).toEqual({
      ok: false,
      reason: "IPv4 gateway 2001:db8::1 is not an IPv4 address",
    });
  });

  it("asks for on-link only when the gateway is outside every connected prefix of the interface", () => {
    const a = [addr("eth0", "198.51.100.2/24")];
    expect(needsOnlink("198.51.100.1", a)).toBe(false);
    expect(needsOnlink("203.0.113.1", a)).toBe(true);
    expect(needsOnlink("fe80::1", [addr("eth0", "2001:db8::2/64", 6)])).toBe(false);
    expect(needsOnlink("2001:db8:1::1", [addr("eth0", "2001:db8::2/64", 6)])).toBe(true);
  });

  it("discovers an IPv6 gateway from the main table, link-local without on-link", () => {
    const s = node();
    const ix = indexObserved({
      ...s,
      address: [...s.address, addr("eth0", "2001:db8::2/64", 6)],
      route: [...s.route, mainDefault("eth0", "fe80::1", 1024, 6)],
    });
    expect(attach(uplink("eth0", "ethernet"), 6, ix)).toMatchObject({
      ok: true,
      attachment: { family: 6, address: "2001:db8::2/64", gateway: "fe80::1", onlink: false },
    });
  });
});
