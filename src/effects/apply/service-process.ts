// Starting and stopping the processes of ours (a service op's line, kinds/driver.ts ServiceLine).
// Start: the program runs detached in its own session (it outlives `apply`; the daemon supervises it
// by observing), never through a shell, with a bare environment; it is started when it has written its
// pid file. Stop: only the process whose command line is exactly the op's is signalled (SIGTERM, then
// SIGKILL after a grace), so a pid reused by another program, or a client someone else runs, is safe.
import { spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync, rmSync } from "node:fs";
import { dirname } from "node:path";
import type { ServiceLine } from "../../kinds/driver.js";
import { plainEqual } from "../../util/canonical.js";
import { writeDhcpHook } from "../dhcp/hook-file.js";
import { netnsArgv, processCounter } from "../exec.js";
import { pollUntil, processArgv, readPidFile } from "../proc.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How the processes this process started ended, by pid (the supervisor reads it; bounded). */
const exits = new Map<number, string>();

/** Why a process this one started exited, when it has. */
export function exitReasonOf(pid: number): string | undefined {
  return exits.get(pid);
}

/** The live process of ours the pid file names, if any. */
export function ourProcess(line: Pick<ServiceLine, "argv" | "pidFile">): number | undefined {
  const pid = readPidFile(line.pidFile);
  if (pid === undefined) return undefined;
  const argv = processArgv(pid);
  return argv !== undefined && plainEqual(argv, [...line.argv]) ? pid : undefined;
}

function logTail(file: string): string {
  try {
    return readFileSync(file, "utf8").trim().split("\n").slice(-5).join("\n");
  } catch {
    return "";
  }
}

export async function startService(
  line: Extract<ServiceLine, { action: "start" }>,
  o: { readonly netns?: string; readonly timeoutMs?: number } = {},
): Promise<number> {
  if (ourProcess(line) !== undefined) throw new Error(`${line.label} already runs`);
  mkdirSync(dirname(line.pidFile), { recursive: true, mode: 0o700 });
  if (line.hook?.kind === "dhcp") writeDhcpHook(line.hook.path);
  rmSync(line.pidFile, { force: true });
  const full = netnsArgv(line.argv, o.netns);
  const [file, ...args] = full;
  if (file === undefined) throw new Error("empty command line");
  processCounter.started++;
  const log = openSync(line.logFile, "a", 0o600);
  let exited: string | undefined;
  try {
    const child = spawn(file, args, {
      detached: true,
      stdio: ["ignore", log, log],
      env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LC_ALL: "C" },
    });
    child.once("error", (e) => (exited = e.message));
    child.once("exit", (code, signal) => {
      exited = signal !== null ? `killed by ${signal}` : `exited with code ${code}`;
      if (child.pid !== undefined) {
        if (exits.size >= 256) exits.delete(exits.keys().next().value!);
        exits.set(child.pid, exited);
      }
    });
    child.unref();
    const end = Date.now() + (o.timeoutMs ?? 5000);
    while (Date.now() < end) {
      if (exited !== undefined) break;
      const pid = ourProcess(line);
      if (pid !== undefined) return pid;
      await sleep(20);
    }
    if (exited === undefined) child.kill("SIGKILL");
    const tail = logTail(line.logFile);
    throw new Error(
      `${line.label}: ${exited ?? "wrote no pid file in time"}${tail === "" ? "" : `; ${line.logFile} ends:\n${tail}`}`,
    );
  } finally {
    closeSync(log);
  }
}

/** Stop our process; nothing to do when it is already gone. Resolves once it has exited. */
export async function stopService(
  line: Extract<ServiceLine, { action: "stop" }>,
  o: { readonly graceMs?: number } = {},
): Promise<void> {
  const pid = ourProcess(line);
  if (pid !== undefined) {
    const gone = () => (processArgv(pid) === undefined ? true : undefined);
    process.kill(pid, "SIGTERM");
    if ((await pollUntil(gone, o.graceMs ?? 5000)) === undefined) {
      process.kill(pid, "SIGKILL");
      if ((await pollUntil(gone, 2000)) === undefined)
        throw new Error(`${line.label}: pid ${pid} did not exit`);
    }
  }
  rmSync(line.pidFile, { force: true });
}
