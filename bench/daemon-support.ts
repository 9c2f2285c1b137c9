// Shared by the daemon benchmarks (failover.bench.ts, daemon-idle.bench.ts): the build the daemon runs
// from, an observer of kernel events independent of the daemon, quantiles and the results table.
import { readFileSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { MonitorParser, type MonitorEvent } from "../src/effects/ip-monitor.js";
import { run, spawnStream } from "../src/effects/exec.js";

export const REPO = new URL("..", import.meta.url).pathname;

/** Compile the CLI (`npm run build`): the daemon runs from dist/ as it is deployed. */
export async function build(): Promise<void> {
  await run(
    [
      process.execPath,
      join(REPO, "node_modules/typescript/bin/tsc"),
      "-p",
      join(REPO, "tsconfig.build.json"),
    ],
    {
      timeoutMs: 300_000,
    },
  );
}

/**
 * A policy file for one daemon run: `source` with its state directory `placeholder` moved into `dir`
 * (runs must not share state), then edited by `edit`.
 */
export function policyIn(
  source: string,
  placeholder: string,
  dir: string,
  edit: (text: string) => string = (t) => t,
): string {
  const path = join(dir, "policy.yaml");
  writeFileSync(path, edit(readFileSync(source, "utf8").replaceAll(placeholder, join(dir, "state"))));
  return path;
}

/**
 * Its own `ip -ts monitor label link route` in a namespace, separate from the daemon's: link and
 * route events stamped by one process with one clock (epoch ms, microsecond fraction).
 */
export class Observer {
  readonly events: MonitorEvent[] = [];
  private readonly waiters = new Set<() => void>();

  private constructor(private readonly sub: ReturnType<typeof spawnStream>) {
    const parser = new MonitorParser();
    sub.stdout?.setEncoding("utf8");
    sub.stdout?.on("data", (chunk: string) => {
      this.events.push(...parser.push(chunk).events);
      for (const w of this.waiters) w();
    });
  }

  /** Started and listening: a probe route in table 250 has come through. */
  static async start(netns: string): Promise<Observer> {
    const o = new Observer(
      spawnStream(["ip", "-ts", "monitor", "label", "link", "route"], { netns, env: { TZ: "UTC" } }),
    );
    const probe = ["203.0.113.0/24", "dev", "lo", "table", "250"];
    const seen = o.waitFor((e) => e.kind === "route" && e.text.includes("table 250"), 0, 5000);
    for (let i = 0; i < 50; i++) {
      await run(["ip", "-n", netns, "route", "replace", ...probe]);
      await run(["ip", "-n", netns, "route", "del", ...probe]);
      if (o.events.length > 0) break;
      await sleep(100);
    }
    await seen;
    return o;
  }

  /** The first event from index `from` on that matches. */
  waitFor(pred: (e: MonitorEvent) => boolean, from: number, timeoutMs: number): Promise<MonitorEvent> {
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      const check = (): void => {
        const hit = this.events.slice(from).find(pred);
        if (hit === undefined) return;
        done();
        resolve(hit);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`the observer saw no such event within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  async stop(): Promise<void> {
    this.sub.kill("SIGTERM");
    await this.sub;
  }
}

/** The link lost its carrier (or went down). */
export function carrierLost(e: MonitorEvent, ifname: string): boolean {
  return e.kind === "link" && e.ifname === ifname && !e.deleted && !e.carrier;
}

export function carrierBack(e: MonitorEvent, ifname: string): boolean {
  return e.kind === "link" && e.ifname === ifname && !e.deleted && e.carrier;
}

/** The device a new default route in `table` goes through, when `e` is one. */
export function defaultRouteDev(e: MonitorEvent, table: number): string | undefined {
  if (e.kind !== "route" || e.deleted || !e.text.startsWith("default ")) return undefined;
  if (!new RegExp(`(?:^| )table ${table}(?: |$)`).test(e.text)) return undefined;
  return e.ifname;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Nearest-rank quantile of a non-empty sample. */
export function quantile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil(p * s.length) - 1)] ?? NaN;
}

export interface Row {
  readonly what: string;
  readonly n: number;
  readonly p50: number;
  readonly p95: number;
  readonly max: number;
  readonly unit: string;
  /** The target for the measure the verdict looks at (p95 unless `on` says otherwise). */
  readonly target?: { readonly limit: number; readonly on: "p95" | "max" | "p50" };
}

export function row(what: string, xs: readonly number[], unit: string, target?: Row["target"]): Row {
  return {
    what,
    n: xs.length,
    p50: quantile(xs, 0.5),
    p95: quantile(xs, 0.95),
    max: quantile(xs, 1),
    unit,
    ...(target === undefined ? {} : { target }),
  };
}

const fmt = (x: number): string => (Number.isNaN(x) ? "-" : x >= 100 ? x.toFixed(0) : x.toFixed(2));

/** The table the benchmarks print: one line per measure, the target and whether it is met. */
export function table(rows: readonly Row[]): string {
  const head = ["measure", "n", "p50", "p95", "max", "target", "verdict"];
  const body = rows.map((r) => [
    r.what,
    String(r.n),
    fmt(r.p50),
    fmt(r.p95),
    fmt(r.max),
    r.target === undefined ? "" : `${r.target.on} ≤ ${r.target.limit} ${r.unit}`,
    r.target === undefined ? "" : r[r.target.on] <= r.target.limit ? "meets" : "MISSES",
  ]);
  const width = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(width[i]!) : c.padStart(width[i]!))).join("  ");
  return [line(head), ...body.map(line)].join("\n") + "\n";
}

export function machine(): string {
  return `load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")}`;
}
