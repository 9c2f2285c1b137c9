import fc from "fast-check";
import ipaddr from "ipaddr.js";
import { describe, expect, it } from "vitest";
import { defaultDhcpPool } from "../../src/policy/normalize.js";

describe("the default DHCP pool", () => {
  it("lies inside the hotspot subnet's hosts, is not empty, and leaves out the node's address", () => {
    fc.assert(
      fc.property(fc.ipV4(), fc.integer({ min: 8, max: 30 }), (ip, prefix) => {
        const node = ipaddr.IPv4.parse(ip);
        const { start, end } = defaultDhcpPool(`${ip}/${prefix}`);
        const [s, e] = [ipaddr.IPv4.parse(start), ipaddr.IPv4.parse(end)];
        const num = (a: ipaddr.IPv4) => a.toByteArray().reduce((acc, b) => acc * 256 + b, 0);
        const network = num(ipaddr.IPv4.networkAddressFromCIDR(`${ip}/${prefix}`));
        const broadcast = num(ipaddr.IPv4.broadcastAddressFromCIDR(`${ip}/${prefix}`));
        expect(num(s)).toBeGreaterThan(network);
        expect(num(e)).toBeLessThan(broadcast);
        expect(num(s)).toBeLessThanOrEqual(num(e));
        // A /30 has room for the node and one client only; larger subnets never hand out the node's address.
        if (num(node) !== network && num(node) !== broadcast) {
          expect(num(node) >= num(s) && num(node) <= num(e)).toBe(false);
        }
      }),
    );
  });

  it("starts at the 10th host of a /24 with the node at .1", () => {
    expect(defaultDhcpPool("198.51.100.1/24")).toEqual({ start: "198.51.100.10", end: "198.51.100.254" });
  });
});
