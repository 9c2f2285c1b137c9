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

export function isAlive(pid: number, startTime: number): boolean {
  return processStartTime(pid) === startTime;
}
