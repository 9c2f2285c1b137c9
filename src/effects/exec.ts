// The one way backhaul runs a program: execa with an argument array, never a shell, always a timeout,
// optionally inside a network namespace, with a clear message when the tool is missing.
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { execa } from "execa";

/** Debian package that provides each tool we run. */
const PACKAGE_OF: Readonly<Record<string, string>> = {
  ip: "iproute2",
  tc: "iproute2",
  nft: "nftables",
  hostapd: "hostapd",
  hostapd_cli: "hostapd",
  dnsmasq: "dnsmasq-base",
  udhcpc: "udhcpc",
  conntrack: "conntrack",
  ping: "iputils-ping",
  sysctl: "procps",
  "systemd-notify": "systemd",
  strace: "strace",
};

/** "TOOL was not found: install PACKAGE", for a program that is not installed. */
export function missingToolMessage(tool: string): string {
  const pkg = PACKAGE_OF[tool];
  return `${tool} was not found${pkg ? `: install ${pkg} (apt-get install ${pkg})` : ""}`;
}

export class CommandError extends Error {
  constructor(
    message: string,
    readonly command: readonly string[],
    readonly exitCode: number | undefined,
    readonly stderr: string,
  ) {
    super(message);
    this.name = "CommandError";
  }
}

export interface RunOptions {
  /** Run inside this network namespace (through `ip netns exec`). */
  readonly netns?: string;
  /** Written to the program's standard input. */
  readonly input?: string;
  readonly timeoutMs?: number;
  /** Do not throw on a non-zero exit; the caller inspects the result. */
  readonly allowFailure?: boolean;
  /** Added to this process's environment. */
  readonly env?: Readonly<Record<string, string>>;
}

export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly exitCode: number;
}

export const DEFAULT_TIMEOUT_MS = 10_000;

/** Counts processes started, so tests and benchmarks can prove "no writing process" and batching. */
export const processCounter = { started: 0 };

export function netnsArgv(argv: readonly string[], netns?: string): string[] {
  return netns === undefined ? [...argv] : ["ip", "netns", "exec", netns, ...argv];
}

export async function run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const full = netnsArgv(argv, opts.netns);
  const [file, ...args] = full;
  if (file === undefined) throw new Error("run: empty command");
  processCounter.started++;
  const r = await execa(file, args, {
    input: opts.input,
    timeout: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    reject: false,
    stripFinalNewline: false,
    encoding: "utf8",
    env: { ...opts.env, LC_ALL: "C" },
  });
  const tool = argv[0] ?? file;
  if (r.code === "ENOENT" || (r.failed && r.exitCode === undefined && /ENOENT/.test(String(r.message)))) {
    throw new CommandError(missingToolMessage(tool), full, undefined, "");
  }
  if (r.timedOut) {
    throw new CommandError(
      `${full.join(" ")} timed out after ${opts.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms`,
      full,
      undefined,
      String(r.stderr),
    );
  }
  // `ip netns exec` reports a missing program with exit 255 and execvp's message.
  if (
    opts.netns !== undefined &&
    r.exitCode === 255 &&
    /exec of ".*" failed: No such file/.test(String(r.stderr))
  ) {
    const pkg = PACKAGE_OF[tool];
    throw new CommandError(
      `${tool} was not found${pkg ? `: install ${pkg}` : ""}`,
      full,
      255,
      String(r.stderr),
    );
  }
  const result = { stdout: String(r.stdout), stderr: String(r.stderr), exitCode: r.exitCode ?? -1 };
  if (!opts.allowFailure && result.exitCode !== 0) {
    const msg = result.stderr.trim() || result.stdout.trim() || `exit code ${result.exitCode}`;
    throw new CommandError(`${full.join(" ")}: ${msg}`, full, result.exitCode, result.stderr);
  }
  return result;
}

export interface StreamOptions {
  /** Run inside this network namespace (through `ip netns exec`). */
  readonly netns?: string;
  /** Added to this process's environment. */
  readonly env?: Readonly<Record<string, string>>;
  /** Keep standard input open for the caller to write to (an interactive program). */
  readonly input?: boolean;
}

/**
 * Start a long-lived program whose standard output is read as a stream while it runs (`ip monitor`):
 * no timeout, nothing buffered, killed with us. The caller reads `stdout`, ends it with kill(), and
 * awaits the returned subprocess for how it ended (it never rejects: inspect exitCode, signal, code).
 */
export function spawnStream(argv: readonly string[], opts: StreamOptions = {}) {
  const full = netnsArgv(argv, opts.netns);
  const [file, ...args] = full;
  if (file === undefined) throw new Error("spawnStream: empty command");
  processCounter.started++;
  return execa(file, args, {
    stdin: opts.input === true ? "pipe" : "ignore",
    buffer: false,
    reject: false,
    cleanup: true,
    encoding: "utf8",
    env: { ...opts.env, LC_ALL: "C" },
  });
}

export interface StartOptions {
  /** Run inside this network namespace (through `ip netns exec`). */
  readonly netns?: string;
  /** The program prints this line on stdout once it is ready to serve. */
  readonly readyLine: string;
  /** Its standard error goes to this file (appended), so it can still report after we are gone. */
  readonly stderrFile: string;
  readonly timeoutMs?: number;
}

function tail(file: string, lines = 10): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(unreadable)";
  }
}

/**
 * Start a long-lived program that outlives this process: detached, in its own process group, its
 * standard error written straight to a file (no pipe through us), nothing keeping us alive. Resolves
 * with its pid once it printed `readyLine`; rejects (after killing it) when it exits or stays silent
 * first. The caller tracks the pid and stops it.
 */
export async function startDetached(argv: readonly string[], opts: StartOptions): Promise<number> {
  const full = netnsArgv(argv, opts.netns);
  const [file, ...args] = full;
  if (file === undefined) throw new Error("startDetached: empty command");
  processCounter.started++;
  const errFd = openSync(opts.stderrFile, "a");
  let child: ChildProcess;
  try {
    child = spawn(file, args, {
      detached: true,
      stdio: ["ignore", "pipe", errFd],
      env: { ...process.env, LC_ALL: "C" },
    });
  } finally {
    closeSync(errFd);
  }
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  try {
    await new Promise<void>((resolve, reject) => {
      let seen = "";
      const timer = setTimeout(
        () => reject(new Error(`${full.join(" ")}: not ready after ${timeoutMs} ms`)),
        timeoutMs,
      );
      child.stdout?.on("data", (chunk: Buffer) => {
        seen += chunk.toString("utf8");
        if (seen.split("\n").includes(opts.readyLine)) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once("error", (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        const pkg = PACKAGE_OF[argv[0] ?? ""];
        const why = e.code === "ENOENT" ? `${file} was not found${pkg ? `: install ${pkg}` : ""}` : e.message;
        reject(new Error(`${full.join(" ")}: ${why}`));
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(
          new Error(
            `${full.join(" ")}: exited with code ${code} before it was ready; ${opts.stderrFile} ends:\n${tail(opts.stderrFile)}`,
          ),
        );
      });
    });
  } catch (e) {
    child.kill("SIGKILL");
    throw e;
  }
  if (child.pid === undefined) throw new Error(`${full.join(" ")}: no pid`);
  child.removeAllListeners("exit");
  child.stdout?.destroy();
  child.unref();
  return child.pid;
}
