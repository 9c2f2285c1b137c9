// Observation against the real kernel: a node namespace joined by veth pairs to a peer namespace, set
// up with one object of every kind, observed from outside with --netns semantics.
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addNamespace, deleteNamespace, newLabId } from "../../src/lab/netns.js";
import { observe } from "../../src/effects/observe.js";
import { digest } from "../../src/util/canonical.js";
import { processCounter, run } from "../../src/effects/exec.js";
import { showText } from "../../src/cli/commands/show.js";
import type { KernelObject, KernelState, Route, Rule } from "../../src/kinds/types.js";
import { keyOf } from "../../src/kinds/registry.js";
import { requireKernel } from "../helpers/kernel.js";
import { BUILT_MAIN } from "../helpers/cli.js";
import { dhcpDir } from "../../src/kinds/services/dhcp-client.js";
import { dnsmasqArgv, dnsmasqDir, dnsmasqPaths } from "../../src/kinds/services/dnsmasq.js";
import { startService } from "../../src/effects/apply/service-process.js";
import { hostapdDir, hostapdOf, type Hostapd } from "../../src/kinds/services/hostapd.js";
import { DRIVERS } from "../../src/kinds/registry.js";
import type { ServiceLine } from "../../src/kinds/driver.js";

const kernel = requireKernel(["hostapd", "hostapd_cli", "dnsmasq", "udhcpc"]);

describe.skipIf(!kernel)("observing a real kernel", () => {
  const id = newLabId();
  const node = `${id}n`;
  const peer = `${id}p`;
  let stateDir = "";
  let state: KernelState;
  let processes = 0;
  let serverArgv: string[];
  let accessPoint: Hostapd;
  let dhcpArgvSeen: string[] = [];

  beforeAll(async () => {
    stateDir = mkdtempSync(join(tmpdir(), "backhaul-observe-"));
    await addNamespace(node);
    await addNamespace(peer);
    const ipBatch = [
      `link add eth0 address 02:00:5e:00:00:01 type veth peer name p0 netns ${peer}`,
      `link add wwan0 address 02:00:5e:00:00:02 type veth peer name p1 netns ${peer}`,
      `link add wlan0 address 02:00:5e:00:00:03 type veth peer name p2 netns ${peer}`,
      "link add br0 address 02:00:5e:00:00:04 type bridge",
      ...["eth0", "wwan0", "wlan0", "br0"].map((l) => `link set ${l} up`),
      "address add 198.51.100.2/24 dev eth0",
      "address add 2001:db8:1::2/64 dev eth0 nodad",
      "address add 203.0.113.2/24 dev wwan0",
      "address add 100.64.10.1/24 dev wlan0",
      "rule add pref 900 lookup main suppress_prefixlength 0",
      "rule add pref 1000 from 198.51.100.2 lookup 101 proto 99",
      "rule add pref 1001 to 203.0.113.0/24 lookup 102",
      "rule add pref 1002 iif wlan0 lookup 103",
      "rule add pref 1003 oif wwan0 lookup 102",
      "rule add pref 1004 fwmark 0x10/0xff lookup 101",
      "rule add pref 1005 not from 100.64.0.0/10 lookup main",
      "rule add pref 1006 prohibit",
      "route add default via 198.51.100.1 dev eth0 table 101 proto 99 metric 10",
      "route add default via 203.0.113.1 dev wwan0 table 102 onlink",
      "route add default table 103 nexthop via 198.51.100.1 dev eth0 weight 3 nexthop via 203.0.113.1 dev wwan0 weight 1",
      "route add blackhole 100.64.1.0/24 table 104",
      "route add unreachable 100.64.2.0/24 table 104",
      "route add prohibit 100.64.3.0/24 table 104",
      "route add 100.64.4.0/24 dev eth0 src 198.51.100.2 scope link proto static table 104",
      "route add default via 2001:db8:1::1 dev eth0 table 101 metric 100",
    ];
    await run(["ip", "-batch", "-"], { netns: node, input: ipBatch.map((l) => `${l}\n`).join("") });
    await run(["ip", "-6", "rule", "add", "pref", "1000", "from", "2001:db8:1::/64", "lookup", "101"], {
      netns: node,
    });
    await run(["ip", "-batch", "-"], {
      netns: peer,
      input: "link set p0 up\nlink set p1 up\nlink set p2 up\n",
    });
    const tcBatch = [
      "qdisc add dev eth0 root handle 1: htb default 20",
      "class add dev eth0 parent 1: classid 1:1 htb rate 10mbit ceil 10mbit",
      "class add dev eth0 parent 1:1 classid 1:10 htb rate 4mbit ceil 10mbit prio 0",
      "class add dev eth0 parent 1:1 classid 1:20 htb rate 6mbit ceil 10mbit prio 1",
      "qdisc add dev eth0 parent 1:10 handle 10: pfifo limit 50",
      "filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dport 22 0xffff flowid 1:10",
      "filter add dev eth0 parent 1: protocol ip prio 2 u32 match ip dsfield 0xb8 0xfc flowid 1:10",
    ];
    await run(["tc", "-batch", "-"], { netns: node, input: tcBatch.map((l) => `${l}\n`).join("") });
    await run(["nft", "-f", "-"], {
      netns: node,
      input:
        "table inet backhaul {\n chain postrouting {\n  type nat hook postrouting priority srcnat; policy accept;\n" +
        '  oifname "eth0" counter masquerade\n }\n}\n',
    });
    // /proc/sys/net shows the namespace of the writing process: write from inside the node.
    for (const [path, value] of [
      ["ipv4/ip_forward", "1"],
      ["ipv4/conf/eth0/rp_filter", "2"],
      ["ipv4/conf/wwan0/ignore_routes_with_linkdown", "1"],
    ] as const) {
      await run(["tee", `/proc/sys/net/${path}`], { netns: node, input: `${value}\n` });
    }
    // Services as backhaul keeps them: our access point started the way apply starts it.
    accessPoint = hostapdOf(hostapdDir(stateDir, node), {
      iface: "wlan0",
      driver: "wired",
      ssid: "bh-test",
      channel: 6,
      security: "wpa2",
      pmf: "disabled",
      clientIsolation: true,
      maxClients: 8,
    });
    const [apStart] = DRIVERS.hostapd.command.render(
      { op: "add", after: accessPoint },
      { replacedRoots: new Set() },
    ) as readonly ServiceLine[];
    if (apStart?.action !== "start") throw new Error("expected a start line");
    await startService(apStart, { netns: node });
    // Our hotspot server, started the way apply starts it.
    serverArgv = dnsmasqArgv(dnsmasqDir(stateDir, node), {
      iface: "wlan0",
      router: "100.64.10.1",
      netmask: "255.255.255.0",
      start: "100.64.10.10",
      end: "100.64.10.50",
      leaseSeconds: 3600,
      maxClients: 8,
    });
    const serverFiles = dnsmasqPaths(dnsmasqDir(stateDir, node), "wlan0");
    await startService(
      {
        action: "start",
        label: "dnsmasq",
        argv: serverArgv,
        pidFile: serverFiles.pid,
        logFile: serverFiles.log,
      },
      { netns: node },
    );
    // Our DHCP client's files live per namespace; a lease file the hook wrote rides on the client.
    const dhcp = dhcpDir(stateDir, node);
    mkdirSync(dhcp, { recursive: true });
    dhcpArgvSeen = [
      "udhcpc",
      "-b",
      "-t",
      "1",
      "-T",
      "1",
      "-i",
      "wwan0",
      "-s",
      "/bin/true",
      "-p",
      join(dhcp, "wwan0.pid"),
    ];
    await run(dhcpArgvSeen, { netns: node });
    writeFileSync(
      join(dhcp, "wwan0.lease"),
      JSON.stringify({ address: "100.64.2.2/24", router: "100.64.2.1", dns: ["100.64.2.1"], seconds: 600 }),
    );
    const before = processCounter.started;
    state = await observe({ netns: node, stateDir });
    processes = processCounter.started - before;
  });

  afterAll(async () => {
    await deleteNamespace(node);
    await deleteNamespace(peer);
    if (stateDir !== "") rmSync(stateDir, { recursive: true, force: true });
  });

  it("sees links with their class, state, MTU and MAC", () => {
    const byName = new Map(state.link.map((l) => [l.name, l]));
    expect(byName.get("eth0")).toEqual({
      kind: "link",
      name: "eth0",
      index: expect.any(Number),
      linkClass: "ethernet",
      adminUp: true,
      carrier: true,
      operState: "up",
      mtu: 1500,
      mac: "02:00:5e:00:00:01",
      linkKind: "veth",
    });
    expect(byName.get("wwan0")?.linkClass).toBe("lte");
    expect(byName.get("wlan0")?.linkClass).toBe("wifi");
    expect(byName.get("br0")?.linkClass).toBe("other");
    expect(byName.get("lo")?.linkClass).toBe("other");
  });

  it("sees addresses of both families", () => {
    const global = state.address.filter((a) => a.scope === "global");
    expect(global).toEqual([
      { kind: "address", family: 4, dev: "eth0", local: "198.51.100.2/24", scope: "global" },
      { kind: "address", family: 6, dev: "eth0", local: "2001:db8:1::2/64", scope: "global" },
      { kind: "address", family: 4, dev: "wlan0", local: "100.64.10.1/24", scope: "global" },
      { kind: "address", family: 4, dev: "wwan0", local: "203.0.113.2/24", scope: "global" },
    ]);
  });

  it("sees every rule selector", () => {
    const rule = (r: Omit<Rule, "kind" | "family" | "protocol"> & { protocol?: number }): Rule => ({
      kind: "rule",
      family: 4,
      protocol: 0,
      ...r,
    });
    const byPriority = state.rule
      .filter((r) => r.family === 4 && r.priority > 0 && r.priority < 32766)
      .sort((a, b) => a.priority - b.priority);
    expect(byPriority).toEqual([
      rule({ priority: 900, action: "lookup", table: 254, suppressPrefixlength: 0 }),
      rule({ priority: 1000, from: "198.51.100.2/32", action: "lookup", table: 101, protocol: 99 }),
      rule({ priority: 1001, to: "203.0.113.0/24", action: "lookup", table: 102 }),
      rule({ priority: 1002, iif: "wlan0", action: "lookup", table: 103 }),
      rule({ priority: 1003, oif: "wwan0", action: "lookup", table: 102 }),
      rule({ priority: 1004, fwmark: 0x10, fwmask: 0xff, action: "lookup", table: 101 }),
      rule({ priority: 1005, not: true, from: "100.64.0.0/10", action: "lookup", table: 254 }),
      rule({ priority: 1006, action: "prohibit" }),
    ]);
    expect(state.rule.filter((r) => r.family === 6 && r.priority === 1000)).toEqual([
      {
        kind: "rule",
        family: 6,
        priority: 1000,
        from: "2001:db8:1::/64",
        action: "lookup",
        table: 101,
        protocol: 0,
      },
    ]);
    expect(state.rule.filter((r) => r.protocol === 2).map((r) => [r.family, r.priority, r.table])).toEqual([
      [4, 0, 255],
      [4, 32766, 254],
      [4, 32767, 253],
      [6, 0, 255],
      [6, 32766, 254],
    ]);
  });

  it("sees routes of every table with type, gateway, onlink, metric, protocol, scope and weighted nexthops", () => {
    const r = (x: Partial<Route> & Pick<Route, "table" | "dst">): Route => ({
      kind: "route",
      family: 4,
      type: "unicast",
      metric: 0,
      protocol: 3,
      scope: "global",
      ...x,
    });
    expect(state.route.filter((x) => x.table >= 100 && x.table < 200)).toEqual([
      r({ table: 101, dst: "0.0.0.0/0", metric: 10, protocol: 99, gateway: "198.51.100.1", dev: "eth0" }),
      r({ table: 102, dst: "0.0.0.0/0", gateway: "203.0.113.1", dev: "wwan0", onlink: true }),
      r({
        table: 103,
        dst: "0.0.0.0/0",
        nexthops: [
          { gateway: "198.51.100.1", dev: "eth0", weight: 3 },
          { gateway: "203.0.113.1", dev: "wwan0", weight: 1 },
        ],
      }),
      r({ table: 104, dst: "100.64.1.0/24", type: "blackhole" }),
      r({ table: 104, dst: "100.64.2.0/24", type: "unreachable" }),
      r({ table: 104, dst: "100.64.3.0/24", type: "prohibit" }),
      r({
        table: 104,
        dst: "100.64.4.0/24",
        protocol: 4,
        scope: "link",
        dev: "eth0",
        prefsrc: "198.51.100.2",
      }),
      r({ family: 6, table: 101, dst: "::/0", metric: 100, gateway: "2001:db8:1::1", dev: "eth0" }),
    ]);
    expect(state.route).toContainEqual(
      r({
        table: 254,
        dst: "198.51.100.0/24",
        protocol: 2,
        scope: "link",
        dev: "eth0",
        prefsrc: "198.51.100.2",
      }),
    );
    expect(state.route.filter((x) => x.table === 255 && x.protocol === 2)).toEqual([]);
  });

  it("sees the qdisc tree, its classes and decoded u32 filters", () => {
    expect(state.qdisc.filter((q) => q.dev === "eth0")).toEqual([
      {
        kind: "qdisc",
        dev: "eth0",
        handle: "10:",
        parent: "1:10",
        qdiscKind: "pfifo",
        options: { limit: 50 },
      },
      {
        kind: "qdisc",
        dev: "eth0",
        handle: "1:",
        parent: "root",
        qdiscKind: "htb",
        options: { r2q: 10, default: "0x20", direct_qlen: 1000 },
      },
    ]);
    expect(
      state.class.map((c) => [c.classid, c.parent, c.options["rate"], c.options["ceil"], c.options["prio"]]),
    ).toEqual([
      ["1:1", "root", 10_000_000, 10_000_000, undefined],
      ["1:10", "1:1", 4_000_000, 10_000_000, 0],
      ["1:20", "1:1", 6_000_000, 10_000_000, 1],
    ]);
    expect(state.filter.map((f) => [f.parent, f.pref, f.flowid, f.matches])).toEqual([
      ["1:", 1, "1:10", [{ field: "ip dport", value: "22" }]],
      ["1:", 2, "1:10", [{ field: "ip dsfield", value: "0xb8/0xfc" }]],
    ]);
  });

  it("sees our nft table in canonical form", () => {
    expect(state["nft-table"]).toHaveLength(1);
    const body = JSON.parse(state["nft-table"][0]?.body ?? "{}");
    expect(body.chain).toEqual([
      {
        name: "postrouting",
        type: "nat",
        hook: "postrouting",
        prio: 100,
        policy: "accept",
        rules: [
          {
            expr: [
              { match: { op: "==", left: { meta: { key: "oifname" } }, right: "eth0" } },
              { counter: null },
              { masquerade: null },
            ],
          },
        ],
      },
    ]);
  });

  it("sees the sysctls we care about, read inside the namespace", () => {
    const v = Object.fromEntries(state.sysctl.map((s) => [s.name, s.value]));
    expect(v["net.ipv4.ip_forward"]).toBe("1");
    expect(v["net.ipv4.conf.eth0.rp_filter"]).toBe("2");
    expect(v["net.ipv4.conf.wwan0.ignore_routes_with_linkdown"]).toBe("1");
    expect(v["net.ipv4.conf.wlan0.rp_filter"]).toBeDefined();
  });

  it("sees hostapd, dnsmasq and the DHCP client it runs from its state directory", () => {
    const pid = (f: string): number => Number(readFileSync(join(stateDir, f), "utf8").trim());
    expect(state.hostapd).toEqual([
      {
        ...accessPoint,
        pid: pid(`hostapd/${node}/wlan0.pid`),
        state: "ENABLED",
        stations: 0,
        passphraseSince: expect.any(Number),
      },
    ]);
    expect(state.dnsmasq).toEqual([
      {
        kind: "dnsmasq",
        iface: "wlan0",
        argv: serverArgv,
        pid: pid(`dnsmasq/${node}/wlan0.pid`),
        leases: [],
      },
    ]);
    expect(state["dhcp-client"]).toEqual([
      {
        kind: "dhcp-client",
        iface: "wwan0",
        argv: dhcpArgvSeen,
        pid: pid(`dhcp/${node}/wwan0.pid`),
        lease: { address: "100.64.2.2/24", router: "100.64.2.1", dns: ["100.64.2.1"], seconds: 600 },
      },
    ]);
  });

  it("uses a handful of processes and gives an identical model on an unchanged kernel", async () => {
    // ip batch, ip -6 rule, find, tc qdisc, tc batch, nft, hostapd_cli, conntrack
    expect(processes).toBeLessThanOrEqual(8);
    const again = await observe({ netns: node, stateDir });
    expect(digest(again)).toBe(digest(state));
  });

  it("sees carrier loss when the peer goes down, and nothing else changing", async () => {
    await run(["ip", "link", "set", "p0", "down"], { netns: peer });
    try {
      const s = await observe({ netns: node, stateDir, kinds: ["link", "address", "rule"] });
      const eth0 = s.link.find((l) => l.name === "eth0");
      // operstate follows carrier asynchronously (linkwatch), so only the carrier flag is certain here.
      expect(eth0).toMatchObject({ adminUp: true, carrier: false });
      expect(s.link.filter((l) => l.name !== "eth0")).toEqual(state.link.filter((l) => l.name !== "eth0"));
      expect(s.rule).toEqual(state.rule);
      expect(s.route).toEqual([]);
    } finally {
      await run(["ip", "link", "set", "p0", "up"], { netns: peer });
    }
  });

  it("sees every table of the ruleset, a foreign one beside ours, and none in a namespace without", async () => {
    await run(["nft", "add", "table", "ip", "foreign"], { netns: node });
    try {
      const s = await observe({ netns: node, kinds: ["nft-table"] });
      expect(s["nft-table"].map((t) => `${t.family} ${t.name} ${t.body}`)).toEqual([
        "inet backhaul " + state["nft-table"][0]!.body,
        "ip foreign {}",
      ]);
    } finally {
      await run(["nft", "delete", "table", "ip", "foreign"], { netns: node });
    }
    expect((await observe({ netns: peer, kinds: ["nft-table"] }))["nft-table"]).toEqual([]);
  });

  it("`show` prints readable tables of what backhaul manages, and everything with --all", async () => {
    const text = await showText({ netns: node, stateDir });
    expect(text).toMatch(/^Links \(netns /);
    expect(text).toMatch(/eth0\s+ethernet\s+up\s+up\s+yes\s+1500/);
    expect(text).toContain("1004: from all fwmark 0x10/0xff lookup 101");
    expect(text).toContain("Routes: table 103");
    expect(text).toContain("0.0.0.0/0 proto boot nexthop via 198.51.100.1 dev eth0 weight 3");
    expect(text).toContain("class htb 1:10 prio 0 rate 4Mbit ceil 10Mbit");
    expect(text).toContain("parent 1: pref 2 ip u32 ip dsfield 0xb8/0xfc -> 1:10");
    expect(text).toMatch(/access point on wlan0: pid \d+, ENABLED, ssid "bh-test" wpa2, 0 station\(s\)/);
    expect(text).not.toMatch(/^\s+br0\s/m);
    expect(text).not.toContain("32766:");
    const all = await showText({ netns: node, stateDir, all: true });
    expect(all).toMatch(/^\s+br0\s+other/m);
    expect(all).toContain("32766: from all lookup main proto kernel");
  });

  it("`show --json` prints a versioned document through the real CLI", async () => {
    const cli = [process.execPath, BUILT_MAIN, "show"];
    // Slow on a busy machine: more than exec's default.
    const r = await run([...cli, "--json", "--netns", node, "--state-dir", stateDir], { timeoutMs: 60_000 });
    const doc = JSON.parse(r.stdout);
    expect(doc.format_version).toBe(1);
    expect(doc.netns).toBe(node);
    expect(doc.state.route).toEqual(state.route.filter((x) => x.table !== 255));
    const bad = await run([...cli, "--netns", "no/such"], { allowFailure: true });
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toContain("not a network namespace name");
  });

  it("shows each fault as the expected change and nothing else", async () => {
    const kinds = ["address", "rule", "route"] as const;
    const before = await observe({ netns: node, kinds: [...kinds] });
    await run(["ip", "-batch", "-"], {
      netns: node,
      input:
        "address del 203.0.113.2/24 dev wwan0\n" +
        "route replace default via 198.51.100.9 dev eth0 table 101 proto 99 metric 10\n" +
        "rule add pref 500 from all lookup 50\n",
    });
    try {
      const after = await observe({ netns: node, kinds: [...kinds] });
      expect(changes(before, after)).toEqual({
        added: [
          `rule ${keyOf({ kind: "rule", family: 4, priority: 500, action: "lookup", table: 50, protocol: 0 })}`,
        ],
        // Losing its last IPv4 address, wwan0 also loses the routes through it: the connected one and
        // table 102's on-link default.
        removed: ["address wwan0 203.0.113.2/24", "route 4 102 0.0.0.0/0 0", "route 4 254 203.0.113.0/24 0"],
        changed: ["route 4 101 0.0.0.0/0 10"],
      });
      expect(after.route.find((r) => r.table === 101 && r.family === 4)?.gateway).toBe("198.51.100.9");
    } finally {
      await run(["ip", "-batch", "-"], {
        netns: node,
        input:
          "address add 203.0.113.2/24 dev wwan0\n" +
          "route add default via 203.0.113.1 dev wwan0 table 102 onlink\n" +
          "route replace default via 198.51.100.1 dev eth0 table 101 proto 99 metric 10\n" +
          "rule del pref 500\n",
      });
    }
  });
  it("reports no hostapd once it died, though its control socket is left behind", async () => {
    const pid = Number(readFileSync(join(stateDir, "hostapd", node, "wlan0.pid"), "utf8").trim());
    process.kill(pid, "SIGKILL");
    await new Promise((r) => setTimeout(r, 100));
    const s = await observe({ netns: node, stateDir, kinds: ["hostapd"] });
    expect(s.hostapd).toEqual([]);
  });
});

/** Keys added, removed and changed between two states (kind-prefixed). */
function changes(a: KernelState, b: KernelState): { added: string[]; removed: string[]; changed: string[] } {
  const index = (s: KernelState): Map<string, string> =>
    new Map(
      Object.values(s).flatMap((list) =>
        list.map((o: KernelObject) => [`${o.kind} ${keyOf(o)}`, digest(o)] as const),
      ),
    );
  const ia = index(a);
  const ib = index(b);
  return {
    added: [...ib.keys()].filter((k) => !ia.has(k)),
    removed: [...ia.keys()].filter((k) => !ib.has(k)),
    changed: [...ib.keys()].filter((k) => ia.has(k) && ia.get(k) !== ib.get(k)),
  };
}
