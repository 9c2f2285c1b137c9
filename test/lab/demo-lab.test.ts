import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Lab } from "../../src/lab/lab.js";
import { hostOf } from "../../src/lab/topology.js";
import { run } from "../../src/effects/exec.js";
import {
  demoTopology,
  eventually,
  httpGet,
  ipJson,
  LAB_TOOLS,
  requireKernel,
  rootSnapshot,
  tcpConnect,
  useLab,
  type RootSnapshot,
} from "../helpers/kernel.js";

interface IpLink {
  ifname: string;
  ifindex: number;
  flags: string[];
  address: string;
}
interface IpAddr {
  ifname: string;
  addr_info: Array<{ family: string; local: string; prefixlen: number }>;
}

const UPLINKS = [
  { iface: "eth0", address: "100.64.1.2", gateway: "100.64.1.1", table: 101 },
  { iface: "wwan0", address: "100.64.2.2", gateway: "100.64.2.1", table: 102 },
  { iface: "usb0", address: "100.64.3.100", gateway: "100.64.3.1", table: 103 },
] as const;

async function link(netns: string, dev: string): Promise<IpLink> {
  const [l] = await ipJson<IpLink[]>(netns, ["link", "show", "dev", dev]);
  if (!l) throw new Error(`no link ${dev} in ${netns}`);
  return l;
}

async function v4(netns: string, dev: string): Promise<string[]> {
  const addrs = await ipJson<IpAddr[]>(netns, ["-4", "address", "show", "dev", dev]);
  return addrs.flatMap((a) => a.addr_info.map((i) => `${i.local}/${i.prefixlen}`));
}

const carrier = async (netns: string, dev: string): Promise<boolean> =>
  (await link(netns, dev)).flags.includes("LOWER_UP");

/** What backhaul will do later, done by hand: per uplink a table with its default and a source rule. */
async function routeThrough(
  lab: Lab,
  u: (typeof UPLINKS)[number],
  gateway: string = u.gateway,
): Promise<void> {
  await run([
    "ip",
    "-n",
    lab.node,
    "route",
    "replace",
    "default",
    "via",
    gateway,
    "dev",
    u.iface,
    "table",
    String(u.table),
  ]);
  await run(["ip", "-n", lab.node, "rule", "del", "from", u.address, "table", String(u.table)], {
    allowFailure: true,
  });
  await run([
    "ip",
    "-n",
    lab.node,
    "rule",
    "add",
    "from",
    u.address,
    "table",
    String(u.table),
    "priority",
    String(u.table + 900),
  ]);
}

const connectFrom = (lab: Lab, u: (typeof UPLINKS)[number], host = "198.51.100.10", timeoutMs = 1000) =>
  tcpConnect(lab.node, { host, port: 443, localAddress: u.address, timeoutMs });

/** udhcpc with a script that only prints what it was offered: proves the lab's DHCP server answers. */
async function dhcpOffer(lab: Lab, dir: string): Promise<string> {
  const r = await run(
    ["udhcpc", "-i", "usb0", "-f", "-q", "-n", "-t", "5", "-T", "1", "-s", join(dir, "print.sh")],
    {
      netns: lab.node,
      timeoutMs: 15_000,
    },
  );
  const bound = r.stdout.split("\n").find((l) => l.startsWith("bound "));
  if (bound === undefined) throw new Error(`udhcpc got no lease:\n${r.stdout}${r.stderr}`);
  return bound;
}

describe.skipIf(!requireKernel([...LAB_TOOLS, "udhcpc", "ping"]))("the demo lab", () => {
  let root: RootSnapshot;
  let dir: string;
  beforeAll(async () => {
    root = await rootSnapshot();
    dir = mkdtempSync(join(tmpdir(), "bhl-dhcp-"));
    writeFileSync(
      join(dir, "print.sh"),
      '#!/bin/sh\n[ "$1" = bound ] && echo "bound ip=$ip subnet=$subnet router=$router"\nexit 0\n',
    );
    chmodSync(join(dir, "print.sh"), 0o755);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const lab = useLab(demoTopology());
  afterEach(async () => {
    expect(await rootSnapshot()).toEqual(root);
  });

  it("comes up with the node's interfaces named as it sees them, addressed as the topology says", async () => {
    const l = lab();
    for (const iface of ["eth0", "wwan0", "usb0", "wlan0"]) expect(await carrier(l.node, iface)).toBe(true);
    expect(await v4(l.node, "eth0")).toEqual(["100.64.1.2/24"]);
    expect(await v4(l.node, "wwan0")).toEqual(["100.64.2.2/24"]);
    expect(await v4(l.node, "usb0")).toEqual([]);
    expect(await v4(l.node, "wlan0")).toEqual(["100.64.50.1/24"]);
    expect((await link(l.node, "usb0")).address).toBe(l.mac("usb0"));
    expect(await v4(l.isp("eth0"), "node0")).toEqual(["100.64.1.1/24"]);
    const client = l.client as string;
    expect(await v4(client, "sta0")).toEqual(["100.64.50.10/24"]);
    for (const u of UPLINKS) {
      const fwd = await run(["sysctl", "-n", "net.ipv4.ip_forward"], { netns: l.isp(u.iface) });
      expect(fwd.stdout.trim()).toBe("1");
    }
  });

  it("serves DHCP on usb0: the node's interface is offered its address and the ISP's gateway", async () => {
    expect(await dhcpOffer(lab(), dir)).toBe("bound ip=100.64.3.100 subnet=255.255.255.0 router=100.64.3.1");
    // The DHCP client management is backhaul's; here the test applies the lease by hand.
    await run(["ip", "-n", lab().node, "address", "add", "100.64.3.100/24", "dev", "usb0"]);
  });

  it("reaches every ISP's probe targets through that ISP's own uplink", async () => {
    const l = lab();
    for (const u of UPLINKS) await routeThrough(l, u);
    for (const u of UPLINKS) {
      const [route] = await ipJson<Array<{ dev: string; gateway: string }>>(l.node, [
        "route",
        "get",
        "198.51.100.10",
        "from",
        u.address,
      ]);
      expect(route).toMatchObject({ dev: u.iface, gateway: u.gateway });
      expect(await connectFrom(l, u)).toBe("connected");
      expect(await connectFrom(l, u, "203.0.113.10")).toBe("connected");
      const get = { host: "198.51.100.10", port: 80, localAddress: u.address };
      expect(await httpGet(l.node, { ...get, path: "/generate_204" })).toBe("204");
      expect(await httpGet(l.node, { ...get, path: "/" })).toBe("404");
    }
  });

  it("lets the client reach the node's hotspot address", async () => {
    const r = await run(["ping", "-c", "1", "-W", "2", "100.64.50.1"], { netns: lab().client as string });
    expect(r.stdout).toContain("1 received");
  });

  it("carrier loss: the node's interface stays admin up without carrier; carrier returns", async () => {
    const l = lab();
    await l.carrierLoss("eth0");
    expect(await eventually(async () => !(await carrier(l.node, "eth0")))).toBe(true);
    expect((await link(l.node, "eth0")).flags).toContain("UP");
    expect((await link(l.node, "eth0")).flags).toContain("NO-CARRIER");
    await l.carrierReturn("eth0");
    expect(await eventually(() => carrier(l.node, "eth0"))).toBe(true);
  });

  it("gray failure: TCP through the uplink fails while its carrier stays up; other uplinks unaffected; heal restores it", async () => {
    const l = lab();
    const [eth0, wwan0] = UPLINKS;
    await l.grayFailure("wwan0");
    expect(await connectFrom(l, wwan0, "198.51.100.10", 300)).toBe("timeout");
    expect(await carrier(l.node, "wwan0")).toBe(true);
    expect(await connectFrom(l, eth0)).toBe("connected");
    await l.heal("wwan0");
    expect(await connectFrom(l, wwan0)).toBe("connected");
  });

  it("gateway change: the ISP answers on its new gateway address only", async () => {
    const l = lab();
    const eth0 = UPLINKS[0];
    await expect(l.changeGateway("eth0", "100.64.9.1/24")).rejects.toThrow(
      /not in the subnet of 100.64.1.1\/24/,
    );
    await expect(l.changeGateway("eth0", "100.64.1.2/24")).rejects.toThrow(/the node's address/);
    expect(await v4(l.isp("eth0"), "node0")).toEqual(["100.64.1.1/24"]);
    await l.changeGateway("eth0", "100.64.1.254/24");
    expect(await v4(l.isp("eth0"), "node0")).toEqual(["100.64.1.254/24"]);
    expect(l.gateway("eth0")).toBe("100.64.1.254/24");
    await routeThrough(l, eth0, "100.64.1.254");
    expect(await connectFrom(l, eth0)).toBe("connected");
    await l.changeGateway("eth0", "100.64.1.1/24");
    await routeThrough(l, eth0);
    expect(await connectFrom(l, eth0)).toBe("connected");
  });

  it("gateway change on a DHCP uplink: the DHCP server announces the new router", async () => {
    const l = lab();
    await l.changeGateway("usb0", "100.64.3.254/24");
    expect(await dhcpOffer(l, dir)).toBe("bound ip=100.64.3.100 subnet=255.255.255.0 router=100.64.3.254");
    await l.changeGateway("usb0", "100.64.3.1/24");
    expect(await dhcpOffer(l, dir)).toContain("router=100.64.3.1");
  });

  it("address loss: the node's interface loses its address; restoring puts it back", async () => {
    const l = lab();
    await l.removeAddress("wwan0");
    expect(await v4(l.node, "wwan0")).toEqual([]);
    expect(await carrier(l.node, "wwan0")).toBe(true);
    await l.restoreAddress("wwan0");
    expect(await v4(l.node, "wwan0")).toEqual(["100.64.2.2/24"]);
  });

  it("foreign rule and route: added in the node namespace, not in root", async () => {
    const l = lab();
    await l.addForeignRule(["priority", "500", "to", "203.0.113.10", "lookup", "main"]);
    await l.addForeignRoute(["203.0.113.0/24", "via", "100.64.2.1", "dev", "wwan0", "metric", "50"]);
    const rules = await ipJson<Array<{ priority: number; dst?: string }>>(l.node, ["rule", "show"]);
    expect(rules).toContainEqual(expect.objectContaining({ priority: 500, dst: "203.0.113.10" }));
    const routes = await ipJson<Array<{ dst: string; gateway?: string }>>(l.node, [
      "route",
      "show",
      "table",
      "main",
    ]);
    expect(routes).toContainEqual(expect.objectContaining({ dst: "203.0.113.0/24", gateway: "100.64.2.1" }));
  });

  it("interface re-created: a new link with the same name and MAC, addressed and carrying again", async () => {
    const l = lab();
    const before = await link(l.node, "eth0");
    await l.removeInterface("eth0");
    expect(await ipJson<IpLink[]>(l.node, ["link", "show"])).not.toContainEqual(
      expect.objectContaining({ ifname: "eth0" }),
    );
    await l.restoreInterface("eth0");
    const after = await link(l.node, "eth0");
    expect(after.ifindex).not.toBe(before.ifindex);
    expect(after.address).toBe(before.address);
    expect(await eventually(() => carrier(l.node, "eth0"))).toBe(true);
    expect(await v4(l.node, "eth0")).toEqual(["100.64.1.2/24"]);
    // Routes through the old link went with it.
    await routeThrough(l, UPLINKS[0]);
    expect(await connectFrom(l, UPLINKS[0])).toBe("connected");
    expect(hostOf(l.gateway("eth0"))).toBe("100.64.1.1");
  });

  it("interface re-created on a DHCP uplink: the DHCP server serves the new link", async () => {
    const l = lab();
    await l.recreateInterface("usb0");
    expect(await v4(l.node, "usb0")).toEqual([]);
    expect(await dhcpOffer(l, dir)).toBe("bound ip=100.64.3.100 subnet=255.255.255.0 router=100.64.3.1");
  });
});
