import { describe, expect, it } from "vitest";
import { DRIVERS, describeOp } from "../../src/kinds/registry.js";
import { parseConntrackLine, parseNatFlows, type NatFlows } from "../../src/kinds/conntrack/nat-flows.js";
import type { RawObservation } from "../../src/kinds/raw.js";
import { ownership } from "../support/plan-fixtures.js";

const drv = DRIVERS.conntrack;
const render = (op: Parameters<typeof drv.command.render>[0]) =>
  drv.command.render(op, { replacedRoots: new Set() });

// `conntrack -L -o extended --src-nat` on a node whose hotspot client 100.64.50.10 goes out by eth0
// (100.64.1.2) and by wwan0 (100.64.2.2), with the node's own probe bound to eth0's address.
const LISTING = [
  "ipv4     2 tcp      6 431999 ESTABLISHED src=100.64.50.10 dst=198.51.100.10 sport=40000 dport=443 src=198.51.100.10 dst=100.64.1.2 sport=443 dport=40000 [ASSURED] mark=0 use=1",
  "ipv4     2 tcp      6 431998 ESTABLISHED src=100.64.50.10 dst=198.51.100.10 sport=40002 dport=443 src=198.51.100.10 dst=100.64.1.2 sport=443 dport=40002 [ASSURED] mark=0 use=1",
  "ipv4     2 udp      17 29 src=100.64.50.11 dst=203.0.113.10 sport=5353 dport=53 src=203.0.113.10 dst=100.64.2.2 sport=53 dport=5353 mark=0 use=1",
  "ipv4     2 tcp      6 117 TIME_WAIT src=100.64.1.2 dst=198.51.100.10 sport=50000 dport=443 src=198.51.100.10 dst=100.64.1.2 sport=443 dport=50000 [ASSURED] mark=0 use=1",
  "ipv4     2 icmp     1 29 src=10.8.0.5 dst=198.51.100.10 type=8 code=0 id=7 src=198.51.100.10 dst=192.0.2.99 type=0 code=0 id=7 mark=0 use=1",
  "ipv6     10 tcp      6 300 ESTABLISHED src=fd00:50::10 dst=2001:db8::10 sport=1 dport=443 src=2001:db8::10 dst=2001:db8:1:0:0:0:0:2 sport=443 dport=1 mark=0 use=1",
  "conntrack v1.4.7 (conntrack-tools): 6 flow entries have been shown.",
].join("\n");

const ADDRESSES = JSON.stringify([
  { ifname: "eth0", addr_info: [{ family: "inet", local: "100.64.1.2", prefixlen: 24, scope: "global" }] },
  {
    ifname: "eth0",
    addr_info: [{ family: "inet6", local: "2001:db8:1::2", prefixlen: 64, scope: "global" }],
  },
  { ifname: "wwan0", addr_info: [{ family: "inet", local: "100.64.2.2", prefixlen: 24, scope: "global" }] },
]);

const raw = (conntrack?: string): RawObservation => ({
  ip: { out: ADDRESSES, sections: ["address"] },
  hostapd: [],
  daemons: { dnsmasq: [], dhcp: [], hostapd: [] },
  ...(conntrack === undefined ? {} : { conntrack }),
});

const flows = (o: Partial<NatFlows> = {}): NatFlows => ({
  kind: "conntrack",
  family: 4,
  address: "100.64.1.2",
  source: "100.64.50.10",
  iface: "eth0",
  flows: 2,
  ...o,
});

describe("the conntrack kind: flows NAT'ed out of an uplink", () => {
  it("reads the original source and the reply's destination of a translated entry", () => {
    expect(parseConntrackLine(LISTING.split("\n")[0]!)).toEqual({
      family: 4,
      source: "100.64.50.10",
      address: "100.64.1.2",
    });
  });

  it("groups translated flows by uplink address and source, tied to the interface holding the address", () => {
    const got = drv.observe(raw(LISTING));
    expect(got).toEqual([
      flows(),
      flows({ address: "100.64.2.2", source: "100.64.50.11", iface: "wwan0", flows: 1 }),
      flows({ family: 6, address: "2001:db8:1::2", source: "fd00:50::10", flows: 1 }),
    ]);
  });

  it("never takes the node's own flows (source not translated) or NAT to an address no interface holds", () => {
    const got = parseNatFlows(LISTING, raw());
    expect(got.some((f) => f.source === "100.64.1.2")).toBe(false);
    expect(got.some((f) => f.address === "192.0.2.99")).toBe(false);
  });

  it("sees no flows when conntrack could not be read", () => {
    expect(drv.observe(raw())).toEqual([]);
  });

  it("owns the flows of the policy's uplinks only", () => {
    const own = ownership();
    expect(drv.owned(flows({ iface: "eth0" }), own)).toBe(true);
    expect(drv.owned(flows({ iface: "wg0" }), own)).toBe(false);
  });

  it("is the same object whatever its number of flows, and is transient", () => {
    expect(drv.equal(flows({ flows: 1 }), flows({ flows: 40 }))).toBe(true);
    expect(drv.equal(flows(), flows({ source: "100.64.50.12" }))).toBe(false);
    expect(drv.transient).toBe(true);
    expect(drv.cleanup).toBe("keep");
  });

  it("deletes exactly that source's translated flows of the address, as a conntrack batch line", () => {
    expect(drv.command.tool).toBe("conntrack");
    expect(render({ op: "delete", before: flows() })).toEqual([
      "-D -f ipv4 --src-nat -s 100.64.50.10 --reply-dst 100.64.1.2",
    ]);
    expect(
      render({ op: "delete", before: flows({ family: 6, address: "2001:db8:1::2", source: "fd00:50::10" }) }),
    ).toEqual(["-D -f ipv6 --src-nat -s fd00:50::10 --reply-dst 2001:db8:1::2"]);
    expect(describeOp({ op: "delete", before: flows() })).toBe(
      "delete conntrack NAT flows from 100.64.50.10 out of eth0 as 100.64.1.2 (2 flows)",
    );
  });

  it("refuses to create flows, and any value that is not an address of the family", () => {
    expect(() => render({ op: "add", after: flows() })).toThrow(/cannot be created/);
    expect(() => render({ op: "delete", before: flows({ source: "100.64.50.10 -D" }) })).toThrow(
      /not an IPv4 address/,
    );
    expect(() => render({ op: "delete", before: flows({ address: "2001:db8::1" }) })).toThrow(
      /not an IPv4 address/,
    );
  });
});
