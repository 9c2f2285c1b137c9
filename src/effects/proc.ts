import { readFileSync } from "node:fs";

/**
 * A process's start time in clock ticks since boot (field 22 of /proc/PID/stat), or undefined when
 * no such process exists. A pid plus its start time names one process for good: pids are reused,
 * this pair is not.
 */
export function processStartTime(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may hold spaces and parentheses: split after its closing paren.
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const start = Number(rest[19]);
    return Number.isFinite(start) ? start : undefined;
  } catch {
    return undefined;
  }
}

/** The process still runs: same start time, and not a zombie waiting to be reaped. */
export function isAlive(pid: number, startTime: number): boolean {
  if (processStartTime(pid) !== startTime) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

/**
 * A live process's command line (from /proc/PID/cmdline), or undefined when there is no such process
 * or it is a zombie: what identifies a service as ours beyond its pid.
 */
export function processArgv(pid: number): string[] | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    if (state === "Z" || state === "X") return undefined;
    const raw = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    const argv = raw.split("\0");
    if (argv[argv.length - 1] === "") argv.pop();
    return argv.length === 0 ? undefined : argv;
  } catch {
    return undefined;
  }
}

/**
 * Ask `probe` every `everyMs` until it gives a value or `timeoutMs` has passed: that value, or
 * undefined. For waits on processes and their files, which announce nothing.
 */
export async function pollUntil<T>(
  probe: () => T | undefined,
  timeoutMs: number,
  everyMs = 20,
): Promise<T | undefined> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined || Date.now() >= end) return v;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** The pid a pid file holds, or undefined when it is missing or holds anything but a number. */
export function readPidFile(path: string): number | undefined {
  try {
    const text = readFileSync(path, "utf8").trim();
    return /^\d+$/.test(text) ? Number(text) : undefined;
  } catch {
    return undefined;
  }
}
