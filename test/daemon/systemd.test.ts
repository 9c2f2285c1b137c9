import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { notifySocket, sdNotify, SystemdNotifier, watchdogIntervalMs } from "../../src/daemon/systemd.js";
import { spawnStream } from "../../src/effects/exec.js";
import { eventually, requireTools } from "../helpers/kernel.js";

describe("systemd environment", () => {
  it("reads the watchdog interval from WATCHDOG_USEC, only when it is meant for this process", () => {
    expect(watchdogIntervalMs({ WATCHDOG_USEC: "30000000" }, 42)).toBe(30_000);
    expect(watchdogIntervalMs({ WATCHDOG_USEC: "30000000", WATCHDOG_PID: "42" }, 42)).toBe(30_000);
    expect(watchdogIntervalMs({ WATCHDOG_USEC: "30000000", WATCHDOG_PID: "7" }, 42)).toBeUndefined();
    expect(watchdogIntervalMs({}, 42)).toBeUndefined();
    expect(watchdogIntervalMs({ WATCHDOG_USEC: "0" }, 42)).toBeUndefined();
    expect(watchdogIntervalMs({ WATCHDOG_USEC: "soon" }, 42)).toBeUndefined();
  });

  it("does nothing, and runs nothing, without NOTIFY_SOCKET", async () => {
    expect(notifySocket({})).toBeUndefined();
    expect(await sdNotify({ READY: "1" }, {})).toBe(false);
    const n = new SystemdNotifier({ env: { WATCHDOG_USEC: "1000000" } });
    expect(n.enabled).toBe(false);
    expect(await n.ready("up")).toBe(false);
    expect(await n.healthyPass()).toBe(false);
  });

  it("refuses fields that would break the message", async () => {
    const env = { NOTIFY_SOCKET: "/nonexistent/notify" };
    await expect(sdNotify({ STATUS: "two\nlines" }, env)).rejects.toThrow(/one line/);
    await expect(sdNotify({ "READY=1\nX": "1" }, env)).rejects.toThrow(/not a notification field/);
    await expect(sdNotify({}, env)).rejects.toThrow(/nothing to send/);
  });
});

/**
 * A stand-in for systemd's notification socket, from the systemd package like systemd-notify itself:
 * systemd-socket-activate binds the datagram socket and hands it to dd as standard input; dd read()s
 * each datagram (which also closes the descriptor systemd-notify passes with BARRIER=1, as systemd
 * does, so systemd-notify's wait ends) and appends it to a file.
 */
function receiver(dir: string) {
  const path = join(dir, "notify");
  const out = join(dir, "received");
  const sub = spawnStream([
    "systemd-socket-activate",
    "--datagram",
    "--inetd",
    "-l",
    path,
    "dd",
    `of=${out}`,
    "bs=65536",
    "status=none",
  ]);
  let log = "";
  sub.stderr?.setEncoding("utf8");
  sub.stderr?.on("data", (c: string) => (log += c));
  return {
    path,
    ready: () => eventually(async () => log.includes("Listening on")),
    /** Messages received so far: each systemd-notify call sends its message, then BARRIER=1. */
    messages(): string[] {
      const text = existsSync(out) ? readFileSync(out, "utf8") : "";
      return text.split("BARRIER=1").slice(0, -1);
    },
    async stop() {
      sub.kill("SIGTERM");
      await sub;
    },
  };
}

describe.skipIf(!requireTools(["systemd-notify", "systemd-socket-activate", "dd"]))(
  "systemd notifications through systemd-notify",
  () => {
    let dir = "";
    let rx: ReturnType<typeof receiver>;
    beforeEach(async () => {
      dir = mkdtempSync(join(tmpdir(), "bh-notify-"));
      rx = receiver(dir);
      expect(await rx.ready()).toBe(true);
    });
    afterEach(async () => {
      await rx.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it("sends READY with a status, status changes only, and STOPPING", async () => {
      const n = new SystemdNotifier({ env: { NOTIFY_SOCKET: rx.path } });
      expect(n.enabled).toBe(true);
      expect(await n.ready("fibre active")).toBe(true);
      expect(await n.status("fibre active")).toBe(false);
      expect(await n.status("lte active: fibre down")).toBe(true);
      expect(await n.stopping()).toBe(true);
      expect(await eventually(async () => rx.messages().length === 3)).toBe(true);
      expect(rx.messages()).toEqual([
        "READY=1\nSTATUS=fibre active",
        "STATUS=lte active: fibre down",
        "STOPPING=1\nSTATUS=stopping",
      ]);
    });

    it("pings the watchdog after healthy passes, at most once per half interval, only when it is ours", async () => {
      let now = 1_000_000;
      const env = { NOTIFY_SOCKET: rx.path, WATCHDOG_USEC: "2000000", WATCHDOG_PID: String(process.pid) };
      const n = new SystemdNotifier({ env, now: () => now });
      expect(n.watchdogMs).toBe(2000);
      expect(await n.healthyPass()).toBe(true);
      now += 999;
      expect(await n.healthyPass()).toBe(false);
      now += 1;
      expect(await n.healthyPass()).toBe(true);
      const other = new SystemdNotifier({ env: { ...env, WATCHDOG_PID: "1" }, now: () => now });
      expect(await other.healthyPass()).toBe(false);
      expect(await eventually(async () => rx.messages().length === 2)).toBe(true);
      expect(rx.messages()).toEqual(["WATCHDOG=1", "WATCHDOG=1"]);
    });

    it("fails loudly when the socket is gone", async () => {
      await expect(sdNotify({ READY: "1" }, { NOTIFY_SOCKET: join(dir, "absent") })).rejects.toThrow(
        /systemd-notify/,
      );
    });
  },
);
