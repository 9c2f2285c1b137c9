// The status socket for real: the server in this process on a socket under a temporary directory,
// the real CLI reading it.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fetchStatus, watchStatus } from "../../src/daemon/status-client.js";
import {
  serveStatus,
  namespacesWithSockets,
  statusSocketPath,
  StatusSocketInUseError,
  type StatusServer,
} from "../../src/daemon/status-server.js";
import type { DaemonStatus } from "../../src/daemon/status-model.js";
import { run } from "../../src/effects/exec.js";
import { BUILT_MAIN, cli } from "../helpers/cli.js";
import { STATUS_FIXTURE } from "../support/status-fixture.js";

const DEMO_POLICY = new URL("../../examples/lab-demo.yaml", import.meta.url).pathname;

let dir: string;
let socket: string;
let server: StatusServer;
let current: DaemonStatus = STATUS_FIXTURE;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "bhl-status-"));
  socket = join(dir, "run", "status.sock");
  server = await serveStatus(socket, () => current, { heartbeatMs: 200 });
});

afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The demo policy with its status socket moved to `path`. */
function policyWithSocket(path: string): string {
  const file = join(dir, `policy-${Math.random().toString(36).slice(2)}.yaml`);
  const text = readFileSync(DEMO_POLICY, "utf8");
  const moved = text.replace(/statusSocket: .*/, `statusSocket: ${path}`);
  expect(moved).not.toBe(text);
  writeFileSync(file, moved);
  return file;
}

describe("the status socket", () => {
  it("is a socket only root can open, in a directory only root can enter", () => {
    expect(statSync(socket).isSocket()).toBe(true);
    expect(statSync(socket).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, "run")).mode & 0o777).toBe(0o700);
  });

  it("answers the snapshot to `backhaul status --json`", async () => {
    const r = await cli(["status", "--json", "--socket", socket]);
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(STATUS_FIXTURE);
  });

  it("answers people with the rendering of the snapshot", async () => {
    const r = await cli(["status", "--socket", socket]);
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain("active    fibre (fibre: first in preference order, up, score 92)");
    expect(r.stdout).toMatch(/\* +fibre +eth0 +up /);
    expect(r.stdout).toMatch(/Stalled +True +PolicyInvalid/);
  });

  it("finds the socket through the policy, qualified with the namespace the verb runs for", async () => {
    const base = join(dir, "ns", "status.sock");
    const qualified = statusSocketPath(base, "bhlobs1");
    expect(qualified).toBe(join(dir, "ns", "status.bhlobs1.sock"));
    const nsServer = await serveStatus(qualified, () => ({ ...STATUS_FIXTURE, netns: "bhlobs1" }));
    try {
      const policy = policyWithSocket(base);
      const inNs = await cli(["status", policy, "--json"], { BACKHAUL_NETNS: "bhlobs1" });
      expect(inNs.exitCode).toBe(0);
      expect(JSON.parse(inNs.stdout).netns).toBe("bhlobs1");
      // The host's daemon of the same policy would listen on the unqualified path: nobody does.
      const onHost = await cli(["status", policy]);
      expect(onHost.exitCode).toBe(1);
      // ...and it says which namespaces' daemons do, and how to ask them.
      expect(onHost.stderr).toBe(
        `backhaul: no daemon is running for ${policy}: nothing answers on ${base}; daemons of this policy ` +
          `serve namespace bhlobs1: \`backhaul status ${policy} --netns bhlobs1\`\n`,
      );
    } finally {
      await nsServer.close();
    }
  });

  it("streams a snapshot at once and another on each notify with --watch --json, until interrupted", async () => {
    const child = spawn(process.execPath, [BUILT_MAIN, "status", "--watch", "--json", "--socket", socket], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    try {
      const lines: DaemonStatus[] = [];
      let buffered = "";
      let stderr = "";
      child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
      const waitFor = (pred: () => boolean) =>
        new Promise<void>((resolve, reject) => {
          const check = () => {
            if (pred()) resolve();
          };
          child.stdout.on("data", check);
          child.once("exit", () => reject(new Error(`status --watch exited: ${stderr}`)));
          check();
        });
      child.stdout.on("data", (c: Buffer) => {
        buffered += c.toString();
        const parts = buffered.split("\n");
        buffered = parts.pop()!;
        for (const p of parts) lines.push(JSON.parse(p) as DaemonStatus);
      });
      await waitFor(() => lines.length >= 1);
      expect(lines[0]).toEqual(STATUS_FIXTURE);
      current = { ...STATUS_FIXTURE, active: { uplinks: ["lte"], reason: "fibre lost its carrier" } };
      server.notify();
      await waitFor(() => lines.some((l) => l.active.uplinks[0] === "lte"));
      const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
      child.kill("SIGINT");
      expect(await exited).toBe(0);
    } finally {
      current = STATUS_FIXTURE;
      child.kill("SIGKILL");
    }
  });

  it("redraws for people on each snapshot with --watch, and ends with exit 1 when the daemon stops", async () => {
    const path = join(dir, "watch-human", "status.sock");
    let snapshot: DaemonStatus = STATUS_FIXTURE;
    const own = await serveStatus(path, () => snapshot, { heartbeatMs: 60_000 });
    const child = spawn(process.execPath, [BUILT_MAIN, "status", "--watch", "--socket", path], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    try {
      let stdout = "";
      let stderr = "";
      child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
      child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
      const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
      const printed = (pred: () => boolean) =>
        new Promise<void>((resolve, reject) => {
          const check = () => pred() && resolve();
          child.stdout.on("data", check);
          void exited.then(() => reject(new Error(`status --watch exited: ${stderr}`)));
          check();
        });
      await printed(() => stdout.includes("UPLINKS (* active)"));
      snapshot = { ...STATUS_FIXTURE, active: { uplinks: ["lte"], reason: "fibre lost its carrier" } };
      own.notify();
      await printed(() => stdout.includes("active    lte (fibre lost its carrier)"));
      // Not a terminal: no screen clearing, each snapshot printed in full after the last.
      expect(stdout.split("backhaul daemon pid 4242").length - 1).toBe(2);
      expect(stdout).not.toContain("\u001b[2J");
      await own.close();
      expect(await exited).toBe(1);
      expect(stderr).toBe(`backhaul: the daemon ended the status stream on ${path} (it stopped)\n`);
    } finally {
      child.kill("SIGKILL");
      await own.close();
    }
  });

  it("sends the snapshot again every heartbeat to watchers, unchanged", async () => {
    const seen: DaemonStatus[] = [];
    const w = await watchStatus(socket, (s) => {
      seen.push(s);
      if (seen.length === 3) w.stop();
    });
    await w.done;
    expect(seen).toEqual([STATUS_FIXTURE, STATUS_FIXTURE, STATUS_FIXTURE]);
  });

  it("tells clearly when no daemon answers, with exit code 1", async () => {
    const none = join(dir, "none.sock");
    const r = await cli(["status", "--socket", none]);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(
      `backhaul: no daemon is running for ${none}: nothing answers on ${none}: start it with \`backhaul run\`\n`,
    );
  });

  it("refuses to start where another daemon answers, naming its pid", async () => {
    const err = await serveStatus(socket, () => current).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StatusSocketInUseError);
    expect((err as Error).message).toContain(`(pid ${STATUS_FIXTURE.pid}) answers on ${socket}`);
    expect((await fetchStatus(socket)).pid).toBe(STATUS_FIXTURE.pid);
  });

  it("replaces a socket left by a daemon that died, and removes its own on close", async () => {
    const path = join(dir, "stale", "status.sock");
    // A process that listens and dies without cleaning up, as a killed daemon would.
    await run(
      [
        process.execPath,
        "-e",
        `require("node:fs").mkdirSync(${JSON.stringify(join(dir, "stale"))});` +
          `require("node:net").createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, "SIGKILL"))`,
      ],
      { allowFailure: true },
    );
    expect(statSync(path).isSocket()).toBe(true);
    const s = await serveStatus(path, () => current);
    expect((await fetchStatus(path)).pid).toBe(STATUS_FIXTURE.pid);
    await s.close();
    expect(existsSync(path)).toBe(false);
  });

  it("refuses a path that is not a socket, and leaves the file alone", async () => {
    const path = join(dir, "plain-file");
    writeFileSync(path, "keep me");
    await expect(serveStatus(path, () => current)).rejects.toThrow(/exists and is not a socket/);
    expect(readFileSync(path, "utf8")).toBe("keep me");
  });

  it.skipIf(process.getuid?.() !== 0 && process.env.CI !== "true")(
    "shuts out users other than root",
    async () => {
      const r = await run(
        [
          "setpriv",
          "--reuid=65534",
          "--regid=65534",
          "--clear-groups",
          process.execPath,
          BUILT_MAIN,
          "status",
          "--socket",
          socket,
        ],
        { allowFailure: true, timeoutMs: 30_000 },
      );
      expect(r.stderr).toContain(`permission denied on ${socket}: only root may read the daemon's status`);
      expect(r.exitCode).toBe(1);
    },
  );
});

describe("statusSocketPath", () => {
  it("is the policy's socket for the host, and puts a namespace before the extension", () => {
    expect(statusSocketPath("/run/backhaul/status.sock", undefined)).toBe("/run/backhaul/status.sock");
    expect(statusSocketPath("/run/backhaul/status.sock", null)).toBe("/run/backhaul/status.sock");
    expect(statusSocketPath("/run/backhaul/status.sock", "bhl-a1")).toBe("/run/backhaul/status.bhl-a1.sock");
    expect(statusSocketPath("/run/backhaul/control", "bhl-a1")).toBe("/run/backhaul/control.bhl-a1");
    expect(statusSocketPath("/run/backhaul/.sock", "bhl-a1")).toBe("/run/backhaul/.sock.bhl-a1");
  });

  it("refuses a namespace name that could leave the directory", () => {
    expect(() => statusSocketPath("/run/backhaul/status.sock", "../x")).toThrow(
      /not a network namespace name/,
    );
  });
});

describe("namespacesWithSockets", () => {
  it("reads back the namespaces statusSocketPath names, and nothing else in the directory", () => {
    for (const policySocket of ["/run/backhaul/status.sock", "/run/backhaul/control"]) {
      const names = ["bhl-a1", "node", "x.y"].map((ns) => basename(statusSocketPath(policySocket, ns)));
      const others = [
        basename(policySocket),
        "status..sock",
        "status.sockx",
        "other.bhl-a1.sock",
        "state.json",
      ];
      expect(namespacesWithSockets(policySocket, [...others, ...names])).toEqual(["bhl-a1", "node", "x.y"]);
    }
  });
});
