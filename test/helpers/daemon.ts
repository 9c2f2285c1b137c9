// Running `backhaul run` from tests: the real daemon inside a lab namespace, its JSON log parsed as it
// arrives, and a client that keeps connecting to an ISP target from the hotspot side.
import { withoutDhcp } from "./policies.js";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { run } from "../../src/effects/exec.js";
import { BUILT_MAIN } from "./cli.js";

export const DEMO_POLICY = new URL("../../examples/lab-demo.yaml", import.meta.url).pathname;

export interface LogLine {
  readonly level: number;
  readonly time: number;
  readonly msg: string;
  readonly [key: string]: unknown;
}

export interface PassLine extends LogLine {
  readonly pass: {
    readonly path: "full" | "fast";
    readonly outcome: string;
    readonly ops: number;
    /** ISO time the pass began. */
    readonly startedAt: string;
    /** A fast pass that sent the carrier-loss plan made ahead of the event. */
    readonly prepared?: true;
  };
  readonly switch?: {
    readonly from: string[];
    readonly to: string[];
    readonly cause: string;
    readonly reason: string;
  };
}

/** The demo policy with its state kept in `dir` (tests must not share state), edited by `edit`. */
export function demoPolicyIn(dir: string, edit: (text: string) => string = (t) => t): string {
  // The daemon's machinery is tested on a plan that does not change by itself (see policies.ts).
  const text = withoutDhcp(readFileSync(DEMO_POLICY, "utf8"))
    .replace("stateDir: /run/backhaul-lab", `stateDir: ${dir}/state`)
    .replace("statusSocket: /run/backhaul-lab/status.sock", `statusSocket: ${dir}/status.sock`);
  mkdirSync(dir, { recursive: true });
  const path = join(dir, "policy.yaml");
  writeFileSync(path, edit(text));
  return path;
}

export function tempDir(prefix: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export class DaemonProcess {
  readonly lines: LogLine[] = [];
  readonly stderr: string[] = [];
  private readonly waiters = new Set<() => void>();
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on("line", (l) => {
      try {
        this.lines.push(JSON.parse(l) as LogLine);
      } catch {
        this.stderr.push(l);
      }
      for (const w of this.waiters) w();
    });
    createInterface({ input: child.stderr! }).on("line", (l) => {
      this.stderr.push(l);
      for (const w of this.waiters) w();
    });
    this.exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  }

  /**
   * `backhaul run POLICY` inside `netns`, as `--netns` would start it, from the build (as deployed).
   * `ip netns exec` execs node, so the child's pid is the daemon's.
   */
  static start(
    netns: string,
    policy: string,
    args: readonly string[] = [],
    env: Record<string, string> = {},
  ) {
    const child = spawn(
      "ip",
      ["netns", "exec", netns, process.execPath, BUILT_MAIN, "run", policy, ...args],
      {
        env: { ...process.env, BACKHAUL_NETNS: netns, ...env },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    return new DaemonProcess(child);
  }

  /** The first log line (from `from` on) matching `pred`; rejects after `timeoutMs` with the log so far. */
  waitFor<T extends LogLine = LogLine>(
    pred: (l: LogLine) => boolean,
    timeoutMs = 15_000,
    from = 0,
  ): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const hit = this.lines.slice(from).find(pred);
        if (hit === undefined) return false;
        done();
        resolve(hit as T);
        return true;
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no such log line within ${timeoutMs} ms; log:\n${this.tail()}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
      };
      const waiter = () => void check();
      this.waiters.add(waiter);
      check();
    });
  }

  /** The next switch logged after line `from`. */
  nextSwitch(from: number, timeoutMs = 15_000): Promise<PassLine> {
    return this.waitFor<PassLine>((l) => l["switch"] !== undefined, timeoutMs, from);
  }

  switches(from = 0): PassLine[] {
    return this.lines.slice(from).filter((l): l is PassLine => l["switch"] !== undefined);
  }

  started(): Promise<LogLine> {
    return this.waitFor((l) => l.msg === "backhaul run: started", 30_000);
  }

  tail(n = 40): string {
    return [...this.lines.slice(-n).map((l) => l.msg), ...this.stderr.slice(-10)].join("\n");
  }

  async stop(
    signal: NodeJS.Signals = "SIGTERM",
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }
}

// Connects to host:port every `everyMs` and prints "ms ok|fail" per attempt, until killed.
const CLIENT_SCRIPT = `
const [host, port, everyMs] = process.argv.slice(1);
const tick = () => {
  const t = Date.now();
  const s = require("node:net").connect({ host, port: Number(port), timeout: 300 });
  const done = (ok) => { s.destroy(); process.stdout.write(t + " " + (ok ? "ok" : "fail") + "\\n"); };
  s.once("connect", () => done(true));
  s.once("timeout", () => done(false));
  s.once("error", () => done(false));
};
setInterval(tick, Number(everyMs));
tick();`;

/** A client on the hotspot side that keeps connecting to an ISP target. */
export class ClientProbe {
  readonly attempts: { t: number; ok: boolean }[] = [];
  private constructor(private readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on("line", (l) => {
      const [t, r] = l.split(" ");
      this.attempts.push({ t: Number(t), ok: r === "ok" });
    });
  }

  static start(netns: string, host: string, port: number, everyMs = 50): ClientProbe {
    return new ClientProbe(
      spawn(
        "ip",
        ["netns", "exec", netns, process.execPath, "-e", CLIENT_SCRIPT, host, String(port), String(everyMs)],
        {
          stdio: ["ignore", "pipe", "ignore"],
        },
      ),
    );
  }

  /** Longest run of failed attempts between `from` and `to` (epoch ms), as a time span. */
  longestGapMs(from: number, to: number): number {
    let worst = 0;
    let start: number | undefined;
    for (const a of this.attempts.filter((x) => x.t >= from && x.t <= to)) {
      if (!a.ok) start ??= a.t;
      else if (start !== undefined) {
        worst = Math.max(worst, a.t - start);
        start = undefined;
      }
    }
    return start === undefined ? worst : Math.max(worst, to - start);
  }

  /** Some attempt at or after `t` succeeded. */
  okAfter(t: number): boolean {
    return this.attempts.some((a) => a.t >= t && a.ok);
  }

  stop(): void {
    this.child.kill("SIGKILL");
  }
}

/** The device the active table (100 in the demo policy) sends general traffic to; undefined: no route. */
export async function activeDev(netns: string): Promise<string | undefined> {
  const r = await run(["ip", "-j", "route", "show", "table", "100"], { netns, allowFailure: true });
  // A table without routes does not exist for the kernel: no route.
  if (r.exitCode !== 0) return undefined;
  const routes = JSON.parse(r.stdout.trim() || "[]") as { dst: string; dev?: string }[];
  return routes.find((x) => x.dst === "default")?.dev;
}

/**
 * Tests that give each daemon of one lab a state directory of its own leave the services of the last
 * one running (stopping a daemon leaves the node as it is); for the next daemon they are not its own.
 * Kill our programs in the namespace between such tests.
 */
export async function killServicesIn(netns: string): Promise<void> {
  const pids = (await run(["ip", "netns", "pids", netns])).stdout.split(/\s+/).filter(Boolean).map(Number);
  for (const pid of pids) {
    let comm = "";
    try {
      comm = readFileSync(`/proc/${pid}/comm`, "utf8").trim();
    } catch {
      continue;
    }
    if (comm === "dnsmasq" || comm === "udhcpc" || comm === "hostapd")
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone meanwhile
      }
  }
}
