import fc from "fast-check";
import ipaddr from "ipaddr.js";
import { describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import {
  allNamespaces,
  clientBatch,
  dhcpServerSetup,
  dnsmasqConfig,
  ispBatch,
  labNames,
  nodeBatch,
  rootBatch,
  uplinkMac,
} from "../../src/lab/build.js";
import {
  DEMO_TOPOLOGY_FILE,
  loadTopology,
  parseTopology,
  TopologyError,
  type Topology,
} from "../../src/lab/topology.js";
import { readFileSync } from "node:fs";

const DEMO_TEXT = readFileSync(DEMO_TOPOLOGY_FILE, "utf8");

function problems(text: string): string[] {
  try {
    parseTopology(text, "t.yaml");
  } catch (e) {
    if (e instanceof TopologyError) return [...e.problems];
    throw e;
  }
  return [];
}

const base = (uplinks: string, extra = ""): string =>
  `internet:\n  targets:\n    - address: 198.51.100.10\n      tcp: [443]\nuplinks:\n${uplinks}${extra}`;

describe("the demo topology", () => {
  it("is the one DEMO-TOPOLOGY describes", () => {
    const t = loadTopology(DEMO_TOPOLOGY_FILE);
    expect(t).toEqual({
      node: "node",
      internet: {
        targets: [
          { address: "198.51.100.10", tcp: [443], http: [80] },
          { address: "203.0.113.10", tcp: [443], http: [] },
        ],
        routesBack: ["100.64.0.0/10"],
      },
      uplinks: [
        {
          iface: "eth0",
          isp: "isp-fibre",
          peer: "node0",
          gateway: "100.64.1.1/24",
          addressing: { mode: "external", address: "100.64.1.2/24" },
        },
        {
          iface: "wwan0",
          isp: "isp-lte",
          peer: "node0",
          gateway: "100.64.2.1/24",
          addressing: { mode: "external", address: "100.64.2.2/24" },
        },
        {
          iface: "usb0",
          isp: "isp-phone",
          peer: "node0",
          gateway: "100.64.3.1/24",
          addressing: {
            mode: "dhcp",
            address: "100.64.3.100/24",
            range: ["100.64.3.100", "100.64.3.150"],
            leaseTime: "1h",
            server: "dnsmasq",
          },
        },
      ],
      client: {
        namespace: "client",
        iface: "wlan0",
        peer: "sta0",
        nodeAddress: "100.64.50.1/24",
        address: "100.64.50.10/24",
      },
    } satisfies Topology);
  });
});

describe("topology errors name file:line:col and what is wrong", () => {
  it("reports YAML syntax errors with their position", () => {
    expect(problems("uplinks: [\n")[0]).toMatch(/^t\.yaml:\d+:\d+: /);
  });

  it("reports an unknown field where it is", () => {
    const p = problems(
      base(
        "  - iface: eth0\n    isp: a\n    gateway: 100.64.1.1/24\n    address: 100.64.1.2/24\n    mtu: 9000\n",
      ),
    );
    expect(p).toEqual(['t.yaml:6:5: uplinks.0: unknown field "mtu"']);
  });

  it("reports a missing field", () => {
    expect(problems(base("  - iface: eth0\n    isp: a\n    address: 100.64.1.2/24\n"))).toEqual([
      't.yaml:6:5: uplinks.0: missing field "gateway"',
    ]);
  });

  it("wants exactly one of address and dhcp", () => {
    const both =
      "  - iface: eth0\n    isp: a\n    gateway: 100.64.1.1/24\n    address: 100.64.1.2/24\n    dhcp: {range: [100.64.1.10, 100.64.1.20]}\n";
    expect(problems(base(both))).toEqual([
      "t.yaml:6:5: uplinks.0: give either address (external addressing) or dhcp, not both",
    ]);
    expect(problems(base("  - iface: eth0\n    isp: a\n    gateway: 100.64.1.1/24\n"))).toEqual([
      "t.yaml:6:5: uplinks.0: give either address (external addressing) or dhcp, not both",
    ]);
  });

  it("puts defaultRouteMetric's main-table default into the node batch, and only for external addressing", () => {
    const ext = "  - iface: eth0\n    isp: a\n    gateway: 100.64.1.1/24\n    address: 100.64.1.2/24\n";
    const t = parseTopology(base(`${ext}    defaultRouteMetric: 100\n`), "t.yaml");
    expect(nodeBatch(t)).toContain("route add default via 100.64.1.1 dev eth0 metric 100");
    expect(nodeBatch(parseTopology(base(ext), "t.yaml")).some((l) => l.startsWith("route"))).toBe(false);
    const dhcp =
      "  - iface: eth0\n    isp: a\n    gateway: 100.64.1.1/24\n    dhcp: {range: [100.64.1.10, 100.64.1.20]}\n    defaultRouteMetric: 5\n";
    expect(problems(base(dhcp))).toEqual([
      "t.yaml:10:25: defaultRouteMetric is for external addressing (DHCP installs no route here)",
    ]);
  });

  it("serves leases under dnsmasq's 2-minute floor only with udhcpd, and none under 10 seconds", () => {
    const dhcp = (d: string) => `  - iface: usb0\n    isp: a\n    gateway: 100.64.1.1/24\n    dhcp: ${d}\n`;
    const t = parseTopology(
      base(dhcp("{range: [100.64.1.10, 100.64.1.20], server: udhcpd, leaseTime: 20}")),
      "t.yaml",
    );
    expect(t.uplinks[0]?.addressing).toMatchObject({ mode: "dhcp", server: "udhcpd", leaseTime: "20" });
    expect(problems(base(dhcp("{range: [100.64.1.10, 100.64.1.20], server: udhcpd, leaseTime: 5}")))).toEqual(
      ["t.yaml:9:74: lease time 5 is under 10 seconds (the least udhcpd serves)"],
    );
    expect(problems(base(dhcp("{range: [100.64.1.10, 100.64.1.20], leaseTime: 20}")))).toEqual([
      "t.yaml:9:58: lease time 20 is under 2 minutes (the least dnsmasq serves)",
    ]);
  });

  it("loads every example topology", () => {
    for (const name of ["home-office", "rural", "vehicle"])
      expect(() =>
        loadTopology(new URL(`../../examples/lab/${name}-topology.yaml`, import.meta.url).pathname),
      ).not.toThrow();
  });

  it("rejects an invalid interface name", () => {
    expect(
      problems(
        base("  - iface: eth0:1\n    isp: a\n    gateway: 100.64.1.1/24\n    address: 100.64.1.2/24\n"),
      )[0],
    ).toMatch(/^t\.yaml:6:12: uplinks\.0\.iface: must match pattern/);
  });

  it("finds addresses outside their subnet, duplicate names, overlapping subnets, bad DHCP ranges", () => {
    const p = problems(
      base(
        [
          "  - iface: eth0",
          "    isp: a",
          "    gateway: 100.64.1.1/24",
          "    address: 100.64.2.2/24",
          "  - iface: eth0",
          "    isp: a",
          "    gateway: 100.64.1.9/24",
          "    dhcp: {range: [100.64.1.1, 100.64.1.20], leaseTime: 1m}",
          "",
        ].join("\n"),
      ),
    );
    expect(p).toEqual([
      "t.yaml:9:14: address 100.64.2.2/24 is not in the subnet 100.64.1.0/24",
      't.yaml:11:10: namespace name "a" is already used by uplink eth0',
      't.yaml:10:12: the node already has an interface "eth0"',
      "t.yaml:12:14: the subnet of 100.64.1.9/24 overlaps the subnet at uplinks.0.gateway",
      "t.yaml:13:19: the range holds the gateway's address 100.64.1.9",
      "t.yaml:13:57: lease time 1m is under 2 minutes (the least dnsmasq serves)",
    ]);
  });

  it("checks the client's address against the node's hotspot address", () => {
    const client = "client:\n  iface: wlan0\n  nodeAddress: 100.64.50.1/24\n  address: 100.64.51.10/24\n";
    const uplink = "  - iface: eth0\n    isp: a\n    gateway: 100.64.1.1/24\n    address: 100.64.1.2/24\n";
    expect(problems(base(uplink, client))).toEqual([
      "t.yaml:13:12: client address 100.64.51.10/24 is not in the subnet 100.64.50.0/24",
    ]);
  });

  it("reports an unreadable file by name", () => {
    expect(() => loadTopology("/nonexistent/topology.yaml")).toThrow(
      /\/nonexistent\/topology\.yaml: cannot read/,
    );
  });

  it("never fails with anything but a TopologyError on a mutated topology", () => {
    const demo = parse(DEMO_TEXT) as Record<string, unknown>;
    const paths: Array<Array<string | number>> = [
      ["node"],
      ["internet", "targets", 0, "address"],
      ["internet", "targets", 1, "tcp"],
      ["internet", "routesBack", 0],
      ["uplinks", 0, "gateway"],
      ["uplinks", 1, "address"],
      ["uplinks", 2, "dhcp", "range", 1],
      ["uplinks", 2, "dhcp"],
      ["client", "nodeAddress"],
      ["client"],
      ["uplinks"],
    ];
    fc.assert(
      fc.property(fc.constantFrom(...paths), fc.jsonValue(), (path, value) => {
        const copy = structuredClone(demo);
        let at = copy as Record<string | number, unknown>;
        for (const k of path.slice(0, -1)) at = at[k] as Record<string | number, unknown>;
        at[path[path.length - 1] as string | number] = value;
        try {
          parseTopology(stringify(copy));
        } catch (e) {
          expect(e).toBeInstanceOf(TopologyError);
        }
      }),
    );
  });
});

/** Valid topologies with 1..6 uplinks, some DHCP-addressed, with or without a client. */
const topologies = fc
  .record({
    ifaces: fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9]{0,14}$/), { minLength: 1, maxLength: 6 }),
    dhcp: fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }),
    client: fc.boolean(),
  })
  .filter((r) => !r.ifaces.includes("lo") && !r.ifaces.includes("wlan0"))
  .map(({ ifaces, dhcp, client }): Topology => ({
    node: "node",
    internet: {
      targets: [{ address: "198.51.100.10", tcp: [443], http: [80] }],
      routesBack: ["100.64.0.0/10"],
    },
    uplinks: ifaces.map((iface, i) => ({
      iface,
      isp: `isp${i}`,
      peer: "node0",
      gateway: `100.64.${i + 1}.1/24`,
      addressing: dhcp[i]
        ? {
            mode: "dhcp" as const,
            address: `100.64.${i + 1}.100/24`,
            range: [`100.64.${i + 1}.100`, `100.64.${i + 1}.150`] as const,
            leaseTime: "1h",
            server: "dnsmasq" as const,
          }
        : { mode: "external" as const, address: `100.64.${i + 1}.2/24` },
    })),
    ...(client
      ? {
          client: {
            namespace: "client",
            iface: "wlan0",
            peer: "sta0",
            nodeAddress: "100.64.50.1/24",
            address: "100.64.50.10/24",
          },
        }
      : {}),
  }));

describe("lab commands", () => {
  it("create nothing in the root namespace but lab namespaces and veth pairs with both ends inside them", () => {
    fc.assert(
      fc.property(topologies, (t) => {
        const names = labNames("bhl0a1b2c", t);
        const labNs = allNamespaces(names);
        for (const line of rootBatch("bhl0a1b2c", t, names)) {
          const add = /^netns add (\S+)$/.exec(line);
          const veth = /^link add \S+ netns (\S+)( address \S+)? type veth peer name \S+ netns (\S+)$/.exec(
            line,
          );
          expect(add !== null || veth !== null).toBe(true);
          for (const ns of [add?.[1], veth?.[1], veth?.[3]].filter((x) => x !== undefined))
            expect(labNs).toContain(ns);
        }
        // Namespace batches never leave their namespace.
        const inside = [
          nodeBatch(t),
          clientBatch(t),
          ...t.uplinks.map((u) => ispBatch(t, u, u.gateway)),
        ].flat();
        for (const line of inside) expect(line).not.toMatch(/\bnetns\b/);
      }),
    );
  });

  it("give every namespace a lab name that netns.ts accepts", () => {
    fc.assert(
      fc.property(topologies, (t) => {
        for (const ns of allNamespaces(labNames("bhl0a1b2c", t))) expect(ns).toMatch(/^bhl[a-z0-9-]{1,40}$/);
      }),
    );
  });

  it("pin a locally administered unicast MAC per uplink, the same for the lab's whole life", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), (a, b) => {
        const mac = uplinkMac("bhl0a1b2c", a);
        expect(mac).toMatch(/^02(:[0-9a-f]{2}){5}$/);
        expect(uplinkMac("bhl0a1b2c", a)).toBe(mac);
        if (a !== b) expect(uplinkMac("bhl0a1b2c", b)).not.toBe(mac);
      }),
    );
  });

  const dhcpUplink = (len: number, server: "dnsmasq" | "udhcpd") => ({
    iface: "usb0",
    isp: "isp",
    peer: "node0",
    gateway: `100.64.0.1/${len}`,
    addressing: {
      mode: "dhcp" as const,
      address: "100.64.0.2/30",
      range: ["100.64.0.2", "100.64.0.2"] as const,
      leaseTime: server === "dnsmasq" ? "1h" : "20",
      server,
    },
  });
  const serving = (u: { gateway: string }) => ({
    gateway: u.gateway,
    mac: "02:00:00:00:00:01",
    leased: "100.64.0.2",
    dir: "/run/x",
  });

  it("give dnsmasq the subnet's netmask, the gateway as router and the node's MAC its address", () => {
    fc.assert(
      fc.property(fc.integer({ min: 8, max: 30 }), (len) => {
        const u = dhcpUplink(len, "dnsmasq");
        const conf = dnsmasqConfig(u, serving(u));
        const mask = ipaddr.IPv4.subnetMaskFromPrefixLength(len).toString();
        expect(conf).toContain(`dhcp-range=100.64.0.2,100.64.0.2,${mask},1h\n`);
        expect(conf).toContain("dhcp-option=option:router,100.64.0.1\n");
        expect(conf).toContain("dhcp-host=02:00:00:00:00:01,100.64.0.2\n");
        expect(conf).toContain("interface=node0\n");
      }),
    );
  });

  it("give udhcpd the same facts, with the lease time also as its floor so short leases stay short", () => {
    const u = dhcpUplink(24, "udhcpd");
    const setup = dhcpServerSetup(u, serving(u));
    expect(setup.argv).toEqual(["busybox", "udhcpd", "/run/x/usb0.udhcpd.conf"]);
    expect(setup.config.split("\n")).toEqual(
      expect.arrayContaining([
        "interface node0",
        "option subnet 255.255.255.0",
        "option router 100.64.0.1",
        "option lease 20",
        "min_lease 20",
        "static_lease 02:00:00:00:00:01 100.64.0.2",
        "pidfile /run/x/usb0.pid",
      ]),
    );
  });
});
