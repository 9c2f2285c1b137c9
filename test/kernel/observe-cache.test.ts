// The daemon's event-fed observed state against the kernel: after every kind of change made behind its
// back, the cache's answer equals a fresh full observation, and it got there through the kernel's
// events alone (no resync runs until the end, and that one finds nothing to correct). A killed monitor
// or channel is replaced, and no read answers from a cache that may have missed something meanwhile.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addNamespace, deleteNamespace, newLabId } from "../../src/lab/netns.js";
import { observe } from "../../src/effects/observe.js";
import { compareKind, ObserveCache, type CacheMismatch } from "../../src/effects/observe-cache.js";
import { processCounter, run } from "../../src/effects/exec.js";
import { KIND_NAMES, TRANSIENT_KINDS } from "../../src/kinds/registry.js";
import type { KernelState } from "../../src/kinds/types.js";
import { requireKernel } from "../helpers/kernel.js";
import {
  hostapd,
  hostapdDir,
  hostapdOf,
  hostapdPaths,
  type Hostapd,
} from "../../src/kinds/services/hostapd.js";
import { scopeOf } from "../../src/kinds/services/dhcp-client.js";
import { startService, stopService } from "../../src/effects/apply/service-process.js";
import { MONITOR_ARGV } from "../../src/effects/ip-monitor.js";

const kernel = requireKernel(["conntrack", "hostapd", "hostapd_cli"]);

/** Our access point's start and stop lines, as the executor runs them. */
function apLines(h: Hostapd) {
  if (hostapd.command.tool !== "service") throw new Error("hostapd is a service");
  const ctx = { replacedRoots: new Set<string>() };
  const [start] = hostapd.command.render({ op: "add", after: h }, ctx);
  const [stop] = hostapd.command.render({ op: "delete", before: h }, ctx);
  if (start?.action !== "start" || stop?.action !== "stop") throw new Error("unexpected service lines");
  return { start, stop };
}

describe.skipIf(!kernel)("the observed-state cache against the kernel", () => {
  const id = newLabId();
  const node = `${id}n`;
  const peer = `${id}p`;
  let stateDir = "";
  let cache: ObserveCache;
  const mismatches: CacheMismatch[] = [];
  const errors: string[] = [];

  const ip = (...args: string[]) => run(["ip", ...args], { netns: node });
  const fresh = () => observe({ netns: node, stateDir });
  /** What differs between two states, transient kinds (tracked flows) aside. */
  const differences = (a: KernelState, b: KernelState) =>
    KIND_NAMES.filter((k) => !TRANSIENT_KINDS.includes(k)).flatMap((k) => compareKind(k, a[k], b[k]));

  /**
   * The cache catches up with the kernel through events: read it until it agrees with a fresh
   * observation (events arrive a moment after the change), then once more to be sure it stays.
   */
  async function expectCaughtUp(): Promise<KernelState> {
    let last: ReturnType<typeof differences> = [];
    for (let i = 0; i < 100; i++) {
      const want = await fresh();
      const got = await cache.read();
      last = differences(got, want);
      if (last.length === 0) return got;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(last).toEqual([]);
    throw new Error("unreachable");
  }

  /** The pid of the process in the node namespace whose command line is `argv`. */
  async function pidOf(argv: readonly string[]): Promise<number | undefined> {
    const pids = (await run(["ip", "netns", "pids", node])).stdout.split("\n").filter((p) => p !== "");
    return pids.map(Number).find((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0").join(" ").trim() === argv.join(" ");
      } catch {
        return false;
      }
    });
  }

  beforeAll(async () => {
    stateDir = mkdtempSync(join(tmpdir(), "backhaul-cache-"));
    await addNamespace(node);
    await addNamespace(peer);
    await run(["ip", "-batch", "-"], {
      netns: node,
      input:
        [
          `link add eth0 type veth peer name p0 netns ${peer}`,
          `link add wwan0 type veth peer name p1 netns ${peer}`,
          "link set lo up",
          "link set eth0 up",
          "link set wwan0 up",
          "address add 198.51.100.2/24 dev eth0",
          "address add 203.0.113.2/24 dev wwan0",
          "route add default via 198.51.100.1 dev eth0 table 100",
          "route add default via 203.0.113.1 dev wwan0 table 101",
          "rule add pref 1000 lookup 100",
        ].join("\n") + "\n",
    });
    await run(["ip", "-batch", "-"], { netns: peer, input: "link set p0 up\nlink set p1 up\n" });
    cache = new ObserveCache({
      netns: node,
      stateDir: () => stateDir,
      onMismatch: (m) => mismatches.push(m),
      onError: (e) => errors.push(e.message),
    });
    await cache.start();
  });

  afterAll(async () => {
    await cache?.stop();
    await deleteNamespace(node);
    await deleteNamespace(peer);
    rmSync(stateDir, { recursive: true, force: true });
  });

  it("starts equal to a fresh observation; a read with nothing changed reads nothing from the kernel", async () => {
    await expectCaughtUp();
    const before = processCounter.started;
    const taken = cache.status.taken;
    const a = await cache.read();
    const b = await cache.read();
    expect(processCounter.started).toBe(before);
    expect(cache.status.taken).toEqual(taken);
    expect(b).toEqual(a);
  });

  it("follows a link taken down and up, and a carrier lost and back", async () => {
    await ip("link", "set", "wwan0", "down");
    await expectCaughtUp();
    await ip("link", "set", "wwan0", "up");
    await expectCaughtUp();
    // A carrier change re-reads addresses, routes and rules; qdiscs and facts stay as they were.
    const before = cache.status.taken;
    await run(["ip", "link", "set", "p0", "down"], { netns: peer });
    const lost = await expectCaughtUp();
    expect(lost.link.find((l) => l.name === "eth0")?.carrier).toBe(false);
    await run(["ip", "link", "set", "p0", "up"], { netns: peer });
    const back = await expectCaughtUp();
    expect(back.link.find((l) => l.name === "eth0")?.carrier).toBe(true);
    const after = cache.status.taken;
    expect(after.route).toBeGreaterThan(before.route);
    expect({ tc: after.tc, facts: after.facts }).toEqual({ tc: before.tc, facts: before.facts });
  });

  it("follows addresses added and removed, with the routes the kernel adds and drops for them", async () => {
    await ip("address", "add", "192.0.2.9/24", "dev", "eth0");
    const added = await expectCaughtUp();
    expect(added.address.some((a) => a.local === "192.0.2.9/24")).toBe(true);
    await ip("address", "del", "192.0.2.9/24", "dev", "eth0");
    const removed = await expectCaughtUp();
    expect(removed.route.some((r) => r.dst === "192.0.2.0/24")).toBe(false);
  });

  it("follows a foreign rule and a deleted route", async () => {
    await ip("rule", "add", "pref", "3000", "to", "192.0.2.0/24", "lookup", "250");
    await ip("-6", "rule", "add", "pref", "3001", "lookup", "251");
    const ruled = await expectCaughtUp();
    expect(ruled.rule.some((r) => r.priority === 3000)).toBe(true);
    expect(ruled.rule.some((r) => r.priority === 3001 && r.family === 6)).toBe(true);
    await ip("route", "del", "default", "table", "100");
    const gone = await expectCaughtUp();
    expect(gone.route.some((r) => r.table === 100)).toBe(false);
  });

  it("follows a device deleted and made again under the same name", async () => {
    await ip("link", "del", "wwan0");
    const deleted = await expectCaughtUp();
    expect(deleted.link.some((l) => l.name === "wwan0")).toBe(false);
    await ip("link", "add", "wwan0", "type", "veth", "peer", "name", "p1", "netns", peer);
    await ip("link", "set", "wwan0", "up");
    await ip("address", "add", "203.0.113.2/24", "dev", "wwan0");
    await run(["ip", "link", "set", "p1", "up"], { netns: peer });
    const again = await expectCaughtUp();
    expect(again.address.some((a) => a.dev === "wwan0" && a.local === "203.0.113.2/24")).toBe(true);
  });

  it("follows a burst of 1,000 route changes", async () => {
    const lines = Array.from(
      { length: 1000 },
      (_, i) => `route add 10.${i >> 8}.${i & 255}.0/24 dev eth0 table 300`,
    );
    await run(["ip", "-batch", "-"], { netns: node, input: lines.join("\n") + "\n" });
    const burst = await expectCaughtUp();
    expect(burst.route.filter((r) => r.table === 300)).toHaveLength(1000);
    await ip("route", "flush", "table", "300");
    const flushed = await expectCaughtUp();
    expect(flushed.route.filter((r) => r.table === 300)).toHaveLength(0);
  });

  it("follows a qdisc and an nftables table made behind its back", async () => {
    await run(["tc", "qdisc", "add", "dev", "eth0", "root", "handle", "1:", "htb", "default", "10"], {
      netns: node,
    });
    const shaped = await expectCaughtUp();
    expect(shaped.qdisc.some((q) => q.dev === "eth0" && q.parent === "root")).toBe(true);
    await run(["nft", "add", "table", "inet", "foreign"], { netns: node });
    const table = await expectCaughtUp();
    expect(table["nft-table"].some((t) => t.name === "foreign")).toBe(true);
  });

  it("reads afresh while its monitor is dead, and again once the monitor is back", async () => {
    const pid = await pidOf([...MONITOR_ARGV]);
    expect(pid).toBeDefined();
    process.kill(pid!, "SIGKILL");
    // Changed at once, before the death is noticed: the next read must not answer from the cache.
    await ip("route", "add", "192.0.2.0/24", "dev", "eth0", "table", "310");
    const now = await cache.read();
    expect(now.route.some((r) => r.table === 310)).toBe(true);
    for (let i = 0; i < 100 && cache.status.restarts.ip === 0; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(cache.status.restarts.ip).toBe(1);
    await ip("route", "del", "192.0.2.0/24", "table", "310");
    const after = await expectCaughtUp();
    expect(after.route.some((r) => r.table === 310)).toBe(false);
  });

  it("replaces a killed channel and reads through the new one", async () => {
    const pid = await pidOf(["ip", "-N", "-j", "-d", "-batch", "-"]);
    expect(pid).toBeDefined();
    process.kill(pid!, "SIGKILL");
    await ip("route", "add", "192.0.2.0/24", "dev", "eth0", "table", "311");
    let state: KernelState | undefined;
    // The request in flight when it died fails (the pass that made it fails and is retried); the next one runs.
    for (let i = 0; i < 3 && state === undefined; i++) state = await cache.read().catch(() => undefined);
    expect(state?.route.some((r) => r.table === 311)).toBe(true);
    await expectCaughtUp();
  });

  it("follows an access point of ours through one hostapd_cli session: its events, its session killed, hostapd replaced", async () => {
    await ip("link", "add", "ap0", "type", "veth", "peer", "name", "pap0", "netns", peer);
    await ip("link", "set", "ap0", "up");
    await run(["ip", "link", "set", "pap0", "up"], { netns: peer });
    const dir = hostapdDir(stateDir, scopeOf(node));
    const h = hostapdOf(dir, {
      iface: "ap0",
      driver: "wired",
      ssid: "cache",
      channel: 1,
      security: "open",
      pmf: "disabled",
      clientIsolation: false,
      maxClients: 4,
    });
    const { start, stop } = apLines(h);
    const ctrl = hostapdPaths(dir, "ap0").ctrlDir;
    const session = ["hostapd_cli", "-p", ctrl, "-i", "ap0"];
    const stateOf = (s: KernelState) => s.hostapd.find((a) => a.iface === "ap0")?.state;
    const caughtUpWith = async (state: string | undefined) => {
      for (let i = 0; i < 100; i++) {
        const got = await expectCaughtUp();
        if (stateOf(got) === state) return got;
        await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error(`hostapd never read as ${state}`);
    };
    const first = await startService(start, { netns: node });
    await caughtUpWith("ENABLED");
    // Serving and nothing changed: a read asks nothing and starts nothing.
    const before = processCounter.started;
    const taken = cache.status.taken;
    await cache.read();
    await cache.read();
    expect(processCounter.started).toBe(before);
    expect(cache.status.taken).toEqual(taken);

    // Behind its back, through hostapd's own control socket: the events say so.
    await run(["hostapd_cli", "-p", ctrl, "-i", "ap0", "disable"], { netns: node });
    await caughtUpWith("DISABLED");
    await run(["hostapd_cli", "-p", ctrl, "-i", "ap0", "enable"], { netns: node });
    await caughtUpWith("ENABLED");

    const cli = await pidOf(session);
    expect(cli).toBeDefined();
    process.kill(cli!, "SIGKILL");
    for (let i = 0; i < 100 && cache.status.restarts.hostapd === 0; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(cache.status.restarts.hostapd).toBe(1);
    await run(["hostapd_cli", "-p", ctrl, "-i", "ap0", "disable"], { netns: node });
    await caughtUpWith("DISABLED");
    expect(await pidOf(session)).not.toBe(cli);

    // A new hostapd (another pid) gets a session of its own; the old one ends with its hostapd.
    await stopService(stop);
    const gone = await expectCaughtUp();
    expect(gone.hostapd).toEqual([]);
    const second = await startService(start, { netns: node });
    expect(second).not.toBe(first);
    await caughtUpWith("ENABLED");
    await stopService(stop);
    await expectCaughtUp();
    for (let i = 0; i < 100 && (await pidOf(session)) !== undefined; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(await pidOf(session)).toBeUndefined();
    await ip("link", "del", "ap0");
  });

  it("a resync at the end finds nothing the events missed", async () => {
    const r = await cache.resync();
    expect(await r.judged).toEqual([]);
    expect(mismatches).toEqual([]);
    expect(cache.status.mismatches).toEqual({});
    expect(differences(r.state, await fresh())).toEqual([]);
  });

  it("follows sysctls written behind its back through their netconf events", async () => {
    await run(["sysctl", "-q", "-w", "net.ipv4.conf.eth0.rp_filter=1"], { netns: node });
    await run(["sysctl", "-q", "-w", "net.ipv6.conf.wwan0.ignore_routes_with_linkdown=1"], { netns: node });
    await run(["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"], { netns: node });
    const got = await expectCaughtUp();
    const value = (name: string) => got.sysctl.find((x) => x.name === name)?.value;
    expect(value("net.ipv4.conf.eth0.rp_filter")).toBe("1");
    expect(value("net.ipv6.conf.wwan0.ignore_routes_with_linkdown")).toBe("1");
    expect(value("net.ipv4.ip_forward")).toBe("1");
  });

  it("a change its stalled monitor does not tell of is what a resync catches: reported, counted, the kernel's kept", async () => {
    // A monitor that stalls (here: stopped) still listens as far as /proc can tell, so the cache
    // answers from what it has; only the resync's fresh read sees the change.
    const monitor = await pidOf([...MONITOR_ARGV]);
    expect(monitor).toBeDefined();
    process.kill(monitor!, "SIGSTOP");
    try {
      await run(["sysctl", "-q", "-w", "net.ipv4.conf.eth0.rp_filter=2"], { netns: node });
      const stale = await cache.read();
      expect(stale.sysctl.find((x) => x.name === "net.ipv4.conf.eth0.rp_filter")?.value).not.toBe("2");
      const r = await cache.resync();
      expect(r.state.sysctl.find((x) => x.name === "net.ipv4.conf.eth0.rp_filter")?.value).toBe("2");
      const missed = await r.judged;
      expect(missed).toEqual([
        expect.objectContaining({ kind: "sysctl", key: "net.ipv4.conf.eth0.rp_filter" }),
      ]);
      expect(mismatches).toEqual(missed);
      expect(cache.status.mismatches).toEqual({ sysctl: 1 });
      expect((await cache.read()).sysctl.find((x) => x.name === "net.ipv4.conf.eth0.rp_filter")?.value).toBe(
        "2",
      );
    } finally {
      process.kill(monitor!, "SIGCONT");
    }
  });
});
