// The monitor against the real kernel: events from a fresh lab namespace, carrier loss when a veth's
// peer goes down, and a killed ip process restarted by the supervisor.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  startMonitor,
  type ChangeEvent,
  type LinkEvent,
  type Monitor,
  type MonitorEvent,
} from "../../src/effects/ip-monitor.js";
import type { RestartInfo } from "../../src/effects/supervised.js";
import { addNamespace, deleteNamespace, newLabId } from "../../src/lab/netns.js";
import { run } from "../../src/effects/exec.js";
import { eventually, requireKernel } from "../helpers/kernel.js";

describe.skipIf(!requireKernel())("kernel event monitor on the real kernel", () => {
  const ns = `${newLabId()}-mon`;
  const events: MonitorEvent[] = [];
  const restarts: RestartInfo[] = [];
  const errors: Error[] = [];
  let monitor: Monitor | undefined;
  let mark = 0;
  const ip = (...args: string[]): Promise<unknown> => run(["ip", "-n", ns, ...args]);
  const seen = (pred: (e: MonitorEvent) => boolean): Promise<boolean> =>
    eventually(async () => events.some(pred));
  const link = (name: string, pred: (e: LinkEvent) => boolean) => (e: MonitorEvent) =>
    e.kind === "link" && e.ifname === name && pred(e);
  const change = (kind: ChangeEvent["kind"], deleted: boolean, text: string) => (e: MonitorEvent) =>
    e.kind === kind && e.deleted === deleted && e.text.includes(text);

  /** ip subscribes some time after it starts: change lo's alias until an event for it arrives. */
  async function subscribed(): Promise<void> {
    const ok = await eventually(async () => {
      const tag = `bh-${++mark}`;
      await ip("link", "set", "dev", "lo", "alias", tag);
      await new Promise((r) => setTimeout(r, 50));
      return events.some(link("lo", () => true));
    }, 5000);
    expect(ok).toBe(true);
  }

  beforeAll(async () => {
    await addNamespace(ns);
    monitor = startMonitor({
      netns: ns,
      onEvent: (e) => events.push(e),
      onRestart: (i) => restarts.push(i),
      onError: (e) => errors.push(e),
      backoff: { initialMs: 50 },
    });
    await subscribed();
  });
  afterAll(async () => {
    await monitor?.stop();
    await deleteNamespace(ns);
  });

  it("reports links, carrier loss, addresses, routes and rules as they change", async () => {
    await ip("link", "add", "va", "type", "veth", "peer", "name", "vb");
    await ip("link", "set", "va", "up");
    await ip("link", "set", "vb", "up");
    expect(await seen(link("va", (e) => e.adminUp && e.carrier && e.operstate === "UP"))).toBe(true);

    const before = events.length;
    await ip("link", "set", "vb", "down");
    expect(
      await eventually(async () =>
        events
          .slice(before)
          .some(link("va", (e) => e.adminUp && !e.carrier && e.operstate === "LOWERLAYERDOWN")),
      ),
    ).toBe(true);
    await ip("link", "set", "vb", "up");

    await ip("address", "add", "198.51.100.1/24", "dev", "va");
    await ip("route", "add", "203.0.113.0/24", "via", "198.51.100.2", "dev", "va", "table", "100");
    await ip("route", "replace", "203.0.113.0/24", "via", "198.51.100.3", "dev", "va", "table", "100");
    await ip("route", "del", "203.0.113.0/24", "table", "100");
    await ip("rule", "add", "from", "198.51.100.1", "lookup", "100", "pref", "1000");
    await ip("rule", "del", "pref", "1000");
    await ip("address", "del", "198.51.100.1/24", "dev", "va");
    await ip("link", "del", "va");

    expect(
      await seen(
        (e) => change("address", false, "198.51.100.1/24")(e) && e.kind === "address" && e.ifname === "va",
      ),
    ).toBe(true);
    expect(await seen(change("route", false, "via 198.51.100.2 dev va table 100"))).toBe(true);
    expect(await seen(change("route", false, "via 198.51.100.3 dev va table 100"))).toBe(true);
    expect(await seen(change("route", true, "via 198.51.100.3 dev va table 100"))).toBe(true);
    expect(await seen(change("rule", false, "from 198.51.100.1 lookup 100"))).toBe(true);
    expect(await seen(change("rule", true, "from 198.51.100.1 lookup 100"))).toBe(true);
    expect(await seen(change("address", true, "198.51.100.1/24"))).toBe(true);
    expect(await seen(link("va", (e) => e.deleted))).toBe(true);
    expect(errors).toEqual([]);
  });

  it("restarts a killed ip process and keeps reporting", async () => {
    const first = monitor?.pid();
    expect(first).toBeDefined();
    process.kill(first as number, "SIGKILL");
    expect(await eventually(async () => restarts.length === 1)).toBe(true);
    expect(restarts[0]).toMatchObject({ restarts: 1, reason: "killed by SIGKILL", afterMs: 50 });
    expect(errors.map((e) => e.message)).toEqual(["ip monitor killed by SIGKILL; restarting in 50 ms"]);
    expect(monitor?.pid()).not.toBe(first);
    events.length = 0;
    await subscribed();
  });

  it("reports a failing event handler and keeps delivering events", async () => {
    const got: MonitorEvent[] = [];
    const failures: Error[] = [];
    const m = startMonitor({
      netns: ns,
      onEvent: (e) => {
        got.push(e);
        if (got.length === 1) throw new Error("handler bug");
      },
      onError: (e) => failures.push(e),
    });
    try {
      const ok = await eventually(async () => {
        await ip("link", "set", "dev", "lo", "alias", `bh-${++mark}`);
        return got.length >= 2;
      }, 5000);
      expect(ok).toBe(true);
    } finally {
      await m.stop();
    }
    expect(failures.map((e) => e.message)).toEqual(["ip monitor: event handler failed: handler bug"]);
  });

  it("backs off doubling while ip keeps failing, saying why", async () => {
    const failing: RestartInfo[] = [];
    const m = startMonitor({
      netns: `${newLabId()}-never-created`,
      onEvent: () => undefined,
      onRestart: (i) => failing.push(i),
      backoff: { initialMs: 20, maxMs: 80 },
    });
    try {
      expect(await eventually(async () => failing.length >= 4, 5000)).toBe(true);
    } finally {
      await m.stop();
    }
    expect(failing.slice(0, 4).map((i) => i.afterMs)).toEqual([20, 40, 80, 80]);
    expect(failing[0]?.reason).toMatch(/exited with code \d+: Cannot open network namespace/);
  });
});
