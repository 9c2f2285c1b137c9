// `backhaul run` at rest, on the real kernel, in lab namespaces.
//  3. An idle pass with no change: the demo lab with the daemon at logLevel debug; harmless kernel
//     events (a foreign route added to and removed from table 250, which backhaul does not own) ask
//     for passes, and the periodic pass adds its own. Each "pass: no change" line gives the pass's
//     whole time (durationMs) and its observation (observeMs). Then the same events again with strace
//     following the daemon's execve calls: every process a no-change pass starts, and none may write.
//     Then 20 full passes that apply one change each: an owned route deleted behind the daemon's back.
//  4. Idle CPU and RSS over 60 s with five uplinks (fixtures/five-uplinks-*.yaml), once with the
//     production probe defaults (a round every 5 s) and once with the demo's fast profile (250 ms):
//     utime+stime of the daemon from /proc/PID/stat as % of one core, the processes it started and
//     reaped (cutime+cstime), its `ip monitor`, and VmRSS (max over the period).
// The daemon runs from the build (dist/), as deployed. Targets (issue 14): idle pass p95 ≤ 3 ms starting
// no process; five uplinks ≤ 0.3% of a core with the production defaults, ≤ 1% with 250 ms rounds,
// ≤ 80 MB. Reported, never asserted.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DaemonProcess, demoPolicyIn, tempDir, type LogLine } from "../test/helpers/daemon.js";
import { Lab } from "../src/lab/lab.js";
import { DEMO_TOPOLOGY_FILE, loadTopology } from "../src/lab/topology.js";
import { run, spawnStream } from "../src/effects/exec.js";
import { MONITOR_ARGV } from "../src/effects/ip-monitor.js";
import { build, machine, policyIn, row, sleep, table, type Row } from "./daemon-support.js";

const FIXTURES = new URL("fixtures/", import.meta.url).pathname;
const TRIGGERS = 30;
const TRACED_TRIGGERS = 20;
const HEALS = 20;
const IDLE_SECONDS = 60;

interface NoChangePass {
  readonly observeMs: number;
  readonly durationMs: number;
}

function noChangePasses(lines: readonly LogLine[]): NoChangePass[] {
  return lines.flatMap((l) => {
    const p = l["pass"] as
      { path?: string; outcome?: string; observeMs?: number; durationMs?: number } | undefined;
    if (p?.path !== "full" || p.outcome !== "no-change" || p.observeMs === undefined) return [];
    return [{ observeMs: p.observeMs, durationMs: p.durationMs ?? NaN }];
  });
}

/** Passes in `lines` that changed something (none should while the node is idle). */
const writingPasses = (lines: readonly LogLine[]): number =>
  lines.filter((l) => {
    const p = l["pass"] as { ops?: number } | undefined;
    return p !== undefined && (p.ops ?? 0) > 0;
  }).length;

/** Harmless kernel events: a foreign route in table 250 (not ours), added and removed in turn. */
async function foreignRouteEvents(lab: Lab, count: number, everyMs: number): Promise<void> {
  const route = ["203.0.113.0/24", "via", "100.64.1.1", "dev", "eth0", "table", "250"];
  for (let i = 0; i < count; i++) {
    await lab.exec(lab.node, ["ip", "route", i % 2 === 0 ? "add" : "del", ...route]);
    await sleep(everyMs);
  }
  await lab.exec(lab.node, ["ip", "route", "flush", "table", "250"]);
}

/** A program's argv as strace printed it in an execve line that succeeded. */
function execs(dir: string, prefix: string): string[][] {
  return readdirSync(dir)
    .filter((f) => f.startsWith(prefix))
    .flatMap((f) => readFileSync(join(dir, f), "utf8").split("\n"))
    .flatMap((line) => {
      const m = /execve\("[^"]*", \[(.*)\], .*\) = 0/.exec(line);
      if (m === null) return [];
      return [[...(m[1] ?? "").matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((x) => x[1] ?? "")];
    });
}

// What makes a command change the kernel: an ip/tc verb that writes, nft -f, sysctl -w, or a batch
// without -j. Observation reads through `ip -N -j -d -batch -` (show commands only: JSON output is
// what it parses, src/effects/observe.ts); apply writes through batches without -j (render/iproute.ts).
const WRITING = new Set(["add", "del", "delete", "replace", "change", "flush", "set", "append", "insert"]);
const writes = (argv: readonly string[]): boolean =>
  argv.some((a) => WRITING.has(a) || a === "-f" || a === "-w") ||
  (argv.includes("-batch") && !argv.includes("-j"));

async function idlePass(): Promise<{ rows: Row[]; notes: string[] }> {
  const lab = await Lab.up(loadTopology(DEMO_TOPOLOGY_FILE));
  const dir = tempDir("bhl-bench-idle-");
  let daemon: DaemonProcess | undefined;
  let strace: ReturnType<typeof spawnStream> | undefined;
  try {
    const policy = demoPolicyIn(dir.path, (t) => t.replace("logLevel: info", "logLevel: debug"));
    daemon = DaemonProcess.start(lab.node, policy);
    await daemon.started();
    await daemon.waitFor((l) => l["uplink"] === "lte" && l["to"] === "up", 20_000);
    await sleep(2000);

    const mark = daemon.lines.length;
    await foreignRouteEvents(lab, TRIGGERS, 400);
    await sleep(1000);
    const passes = noChangePasses(daemon.lines.slice(mark));
    const changed = writingPasses(daemon.lines.slice(mark));

    // The same again, with every execve of the daemon and its children recorded.
    const pid = daemon.child.pid;
    if (pid === undefined) throw new Error("the daemon has no pid");
    const prefix = "execve";
    strace = spawnStream([
      "strace",
      "-f",
      "-ff",
      "-qq",
      "-s",
      "256",
      "-e",
      "trace=execve",
      "-o",
      join(dir.path, prefix),
      "-p",
      String(pid),
    ]);
    await sleep(1000);
    const traced = daemon.lines.length;
    await foreignRouteEvents(lab, TRACED_TRIGGERS, 400);
    await sleep(1000);
    strace.kill("SIGINT");
    await strace;
    strace = undefined;
    const tracedPasses = noChangePasses(daemon.lines.slice(traced)).length;
    const tracedChanged = writingPasses(daemon.lines.slice(traced));
    const argvs = execs(dir.path, prefix);
    const writing = argvs.filter(writes);
    const shapes = new Map<string, number>();
    for (const a of argvs) shapes.set(a.join(" "), (shapes.get(a.join(" ")) ?? 0) + 1);

    // A full pass that applies one change: an owned route deleted behind the daemon's back, put back.
    const heals: number[] = [];
    for (let i = 0; i < HEALS; i++) {
      const from = daemon.lines.length;
      await lab.exec(lab.node, ["ip", "route", "del", "default", "table", "102"]);
      const healed = await daemon.waitFor(
        (l) => {
          const p = l["pass"] as { path?: string; outcome?: string; ops?: number } | undefined;
          return p?.path === "full" && p.outcome === "applied" && p.ops === 1;
        },
        10_000,
        from,
      );
      heals.push((healed["pass"] as { durationMs: number }).durationMs);
      await sleep(300 + Math.random() * 300);
    }

    return {
      rows: [
        row(
          "idle pass, whole (durationMs)",
          passes.map((p) => p.durationMs),
          "ms",
          { limit: 3, on: "p95" },
        ),
        row(
          "  observation (observeMs)",
          passes.map((p) => p.observeMs),
          "ms",
        ),
        row(
          "  health, desired, plan, check",
          passes.map((p) => p.durationMs - p.observeMs),
          "ms",
        ),
        row("full pass applying one change (durationMs)", heals, "ms", { limit: 20, on: "p95" }),
      ],
      notes: [
        `no-change passes: ${passes.length} (${changed} passes with ops > 0 in the same period)`,
        `traced: ${tracedPasses} no-change passes (${tracedChanged} with ops > 0) started ${argvs.length} processes` +
          ` (${(argvs.length / Math.max(1, tracedPasses)).toFixed(1)} per pass), writing: ${writing.length}`,
        ...[...shapes].map(
          ([cmd, n]) => `  ${String(n).padStart(4)} × ${cmd.slice(0, 90)}${cmd.length > 90 ? " …" : ""}`,
        ),
      ],
    };
  } finally {
    strace?.kill("SIGINT");
    await strace;
    await daemon?.stop();
    await lab.down();
    dir.remove();
  }
}

interface ProcSample {
  readonly ticks: number;
  readonly childTicks: number;
  readonly rssKb: number;
}

function sample(pid: number): ProcSample {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15,
  // cutime 16, cstime 17.
  const f = stat
    .slice(stat.lastIndexOf(")") + 2)
    .split(" ")
    .map(Number);
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return {
    ticks: (f[11] ?? 0) + (f[12] ?? 0),
    childTicks: (f[13] ?? 0) + (f[14] ?? 0),
    rssKb: Number(rss?.[1] ?? NaN),
  };
}

function children(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8")
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map(Number);
}

async function idleFiveUplinks(
  lab: Lab,
  profile: string,
  edit: (t: string) => string,
  hz: number,
  cpuLimit: number,
): Promise<{ rows: Row[]; notes: string[] }> {
  const dir = tempDir("bhl-bench-idle5-");
  let daemon: DaemonProcess | undefined;
  try {
    const policy = policyIn(
      join(FIXTURES, "five-uplinks-policy.yaml"),
      "/run/backhaul-bench",
      dir.path,
      edit,
    );
    daemon = DaemonProcess.start(lab.node, policy);
    await daemon.started();
    // At rest: every uplink verified (start-up and first probes are not idle).
    for (const name of ["fibre", "cable", "dsl", "lte", "phone"])
      await daemon.waitFor((l) => l["uplink"] === name && l["to"] === "up", 90_000);
    await sleep(2000);
    const pid = daemon.child.pid;
    if (pid === undefined) throw new Error("the daemon has no pid");
    // The ip monitor among the daemon's long-lived children (tc, nft and conntrack have their own).
    const monitor = children(pid).find(
      (c) =>
        readFileSync(`/proc/${c}/cmdline`, "utf8").split("\0").join(" ").trim() === MONITOR_ARGV.join(" "),
    );
    const first = sample(pid);
    const monitorFirst = monitor === undefined ? undefined : sample(monitor);
    const mark = daemon.lines.length;
    const rss: number[] = [first.rssKb / 1024];
    const t0 = performance.now();
    for (let s = 0; s < IDLE_SECONDS; s++) {
      await sleep(1000);
      rss.push(sample(pid).rssKb / 1024);
    }
    const seconds = (performance.now() - t0) / 1000;
    const last = sample(pid);
    const pct = (ticks: number): number => (100 * ticks) / hz / seconds;
    const self = pct(last.ticks - first.ticks);
    const reaped = pct(last.childTicks - first.childTicks);
    const mon =
      monitor === undefined || monitorFirst === undefined
        ? NaN
        : pct(sample(monitor).ticks - monitorFirst.ticks);
    const logged = daemon.lines.slice(mark);
    return {
      rows: [
        row(`${profile}: daemon CPU (utime+stime)`, [self], "% core", { limit: cpuLimit, on: "max" }),
        row(`${profile}: + processes it reaped`, [self + reaped], "% core"),
        row(`${profile}: its ip monitor`, [mon], "% core"),
        row(`${profile}: daemon RSS (VmRSS, per second)`, rss, "MB", { limit: 80, on: "max" }),
      ],
      notes: [
        `${profile}: ${seconds.toFixed(1)} s measured; ${logged.length} log lines, ${writingPasses(logged)} passes with ops > 0; ` +
          `RSS ${rss[0]?.toFixed(1)} MB at the start, ${rss.at(-1)?.toFixed(1)} MB at the end`,
      ],
    };
  } finally {
    await daemon?.stop();
    dir.remove();
  }
}

async function runBench(): Promise<void> {
  await build();
  const hz = Number((await run(["getconf", "CLK_TCK"])).stdout.trim());
  const a = await idlePass();
  process.stdout.write(
    `demo lab, daemon from dist/ (node ${process.version}), ${machine()}\n${a.notes.join("\n")}\n\n${table(a.rows)}\n`,
  );
  const lab = await Lab.up(loadTopology(join(FIXTURES, "five-uplinks-topology.yaml")));
  try {
    const defaults = await idleFiveUplinks(lab, "5 uplinks, 5s rounds", (t) => t, hz, 0.3);
    const fast = await idleFiveUplinks(
      lab,
      "5 uplinks, 250ms rounds",
      (t) => t.replace("  quorum: 1\n", "  quorum: 1\n  interval: 250ms\n  timeout: 200ms\n  jitter: 20ms\n"),
      hz,
      1,
    );
    process.stdout.write(
      `five-uplink lab, ${IDLE_SECONDS} s each, ${machine()}\n${[...defaults.notes, ...fast.notes].join("\n")}\n\n` +
        table([...defaults.rows, ...fast.rows]),
    );
  } finally {
    await lab.down();
  }
}

export { runBench as run };
