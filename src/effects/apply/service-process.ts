// Starting, reloading and stopping the processes of ours (a service op's line, kinds/driver.ts
// ServiceLine). Start: the program runs detached in its own session (it outlives `apply`; the daemon
// supervises it by observing), never through a shell, with a bare environment; it is started when it
// has written its pid file, or (a program that writes none) when its control socket is there and
// backhaul has recorded its pid. Reload: its files rewritten, then SIGHUP. Stop: only the process whose
// command line is exactly the op's is signalled (SIGTERM, then SIGKILL after a grace), so a pid reused
// by another program, or a client someone else runs, is safe.
import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync } from "node:fs";
import { dirname } from "node:path";
import type { ServiceLine } from "../../kinds/driver.js";
import { plainEqual } from "../../util/canonical.js";
import { writeDhcpHook } from "../dhcp/hook-file.js";
import { writeHostapdFiles } from "../hotspot/credentials.js";
import { writeTextAtomic } from "../state/durable-file.js";
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
  if (line.prepare?.kind === "dhcp") writeDhcpHook(line.prepare.path);
  if (line.prepare?.kind === "hostapd") writeHostapdFiles(line.prepare);
  rmSync(line.pidFile, { force: true });
  // A socket left by a process that died would pass for the new one's.
  if (line.ready !== undefined) rmSync(line.ready.socket, { force: true });
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
    const ready = (): number | undefined => {
      if (line.ready === undefined) return ourProcess(line);
      // `ip netns exec` becomes the program (exec): the child's pid is the program's once its
      // command line is ours.
      const pid = child.pid;
      if (pid === undefined || !existsSync(line.ready.socket)) return undefined;
      if (!plainEqual(processArgv(pid), [...line.argv])) return undefined;
      writeTextAtomic(line.pidFile, `${pid}\n`, 0o600);
      return pid;
    };
    while (Date.now() < end) {
      if (exited !== undefined) break;
      const pid = ready();
      if (pid !== undefined) return pid;
      await sleep(20);
    }
    if (exited === undefined) child.kill("SIGKILL");
    const tail = logTail(line.logFile);
    throw new Error(
      `${line.label}: ${exited ?? (line.ready === undefined ? "wrote no pid file in time" : "opened no control socket in time")}${tail === "" ? "" : `; ${line.logFile} ends:\n${tail}`}`,
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
  for (const f of line.remove ?? []) rmSync(f, { force: true });
}

/**
 * Reload our process: its files rewritten (or the previous ones put back, for a rollback), then
 * SIGHUP, which hostapd answers by reading its configuration again while it keeps serving.
 */
export async function reloadService(line: Extract<ServiceLine, { action: "reload" }>): Promise<void> {
  const pid = ourProcess(line);
  if (pid === undefined) throw new Error(`${line.label} does not run: nothing to reload`);
  writeHostapdFiles(line.prepare, { restore: line.restore });
  process.kill(pid, "SIGHUP");
  // A configuration hostapd cannot load ends it: give it a moment to say so.
  await sleep(100);
  if (ourProcess(line) !== pid) throw new Error(`${line.label} exited when it was reloaded`);
}
