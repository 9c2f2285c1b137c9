// A long-lived program whose output is read as it runs (`ip monitor`, `nft monitor`, `conntrack -E`),
// kept running: when it dies it is started again after a wait that doubles with each quick failure.
// Whoever reads it learns of every restart, since whatever happened in between was not seen.
import { readFileSync, readdirSync, readlinkSync } from "node:fs";
import { missingToolMessage, spawnStream } from "./exec.js";

export interface BackoffOptions {
  /** Delay before the first restart. */
  readonly initialMs: number;
  /** The delay doubles with each quick failure up to this cap. */
  readonly maxMs: number;
  /** A process that ran at least this long resets the doubling. */
  readonly resetAfterMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = {
  initialMs: 100,
  maxMs: 10_000,
  resetAfterMs: 30_000,
};

/** The wait before restart number `failures` (1 = the first) of a run of quick failures. */
export function restartDelayMs(failures: number, o: BackoffOptions): number {
  return Math.min(o.maxMs, o.initialMs * 2 ** Math.max(0, failures - 1));
}

export interface RestartInfo {
  /** Restarts so far. */
  readonly restarts: number;
  /** How the previous process ended. */
  readonly reason: string;
  /** How long we waited before this start. */
  readonly afterMs: number;
}

export interface SuperviseOptions {
  readonly argv: readonly string[];
  readonly netns?: string;
  readonly env?: Readonly<Record<string, string>>;
  readonly backoff?: Partial<BackoffOptions>;
  /** Keep standard input open: the program is interactive (see write()). */
  readonly input?: boolean;
  /** A chunk of standard output, as it arrives. */
  readonly onStdout: (chunk: string) => void;
  /** A chunk of standard error (a monitor that says something there has usually lost messages). */
  readonly onStderr?: (chunk: string) => void;
  /** A new process replaced one that died: what happened in between was not seen. */
  readonly onRestart?: (info: RestartInfo) => void;
  /** The process died (its restart is pending). */
  readonly onDeath?: (reason: string, restartInMs: number) => void;
  /** The program is not installed: no restart is tried (it cannot help until it is). */
  readonly onMissing?: (message: string) => void;
}

export interface Supervised {
  /** The pid of the running process (undefined between a death and its restart). */
  pid(): number | undefined;
  /**
   * The process runs and listens: it has its (netlink) socket open and has not exited, as /proc says
   * now (Node may not have reaped a death yet). What it prints from then on is every change.
   */
  listening(): boolean;
  /** Write to the running process's standard input (with `input`); false when none runs. */
  write(text: string): boolean;
  /** Kill the running process (it does not answer): it is started again as after any death. */
  kill(): void;
  /** Stop: kill the process, cancel any pending restart. */
  stop(): Promise<void>;
}

/** A process's state letter in /proc (Z: dead, not yet reaped), undefined when there is none. */
function procState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
  } catch {
    return undefined;
  }
}

function hasSocket(pid: number): boolean {
  try {
    return readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith("socket:");
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}

export function supervise(o: SuperviseOptions): Supervised {
  const backoff = { ...DEFAULT_BACKOFF, ...o.backoff };
  let stopped = false;
  let failures = 0;
  let restarts = 0;
  let timer: NodeJS.Timeout | undefined;
  let child: ReturnType<typeof spawnStream> | undefined;
  // Once the socket is seen it stays open for the process's life: checked once per process.
  let socketSeen = false;

  const launch = (restart?: Omit<RestartInfo, "restarts">): void => {
    const startedAt = Date.now();
    const sub = spawnStream(o.argv, { netns: o.netns, env: o.env ?? {}, input: o.input === true });
    child = sub;
    // A write racing the process's death fails with EPIPE: its exit says what happened.
    sub.stdin?.on("error", () => undefined);
    socketSeen = false;
    let stderr = "";
    sub.stdout?.setEncoding("utf8");
    sub.stdout?.on("data", (chunk: string) => o.onStdout(chunk));
    sub.stderr?.setEncoding("utf8");
    sub.stderr?.on("data", (chunk: string) => {
      stderr = (stderr + chunk).slice(-2000);
      o.onStderr?.(chunk);
    });
    if (restart !== undefined) {
      restarts++;
      o.onRestart?.({ ...restart, restarts });
    }
    void sub.then((r) => {
      if (child === sub) child = undefined;
      if (stopped) return;
      if (r.code === "ENOENT") {
        o.onMissing?.(missingToolMessage(String(o.argv[0])));
        return;
      }
      const how = r.signal !== undefined ? `killed by ${r.signal}` : `exited with code ${r.exitCode}`;
      const reason = stderr.trim() === "" ? how : `${how}: ${stderr.trim()}`;
      failures = Date.now() - startedAt >= backoff.resetAfterMs ? 1 : failures + 1;
      const afterMs = restartDelayMs(failures, backoff);
      o.onDeath?.(reason, afterMs);
      timer = setTimeout(() => {
        if (!stopped) launch({ reason, afterMs });
      }, afterMs);
    });
  };

  launch();
  return {
    pid: () => child?.pid,
    listening() {
      const pid = child?.pid;
      if (pid === undefined || child?.exitCode !== null) return false;
      const state = procState(pid);
      if (state === undefined || state === "Z" || state === "X") return false;
      if (!socketSeen) socketSeen = hasSocket(pid);
      return socketSeen;
    },
    write(text) {
      const c = child;
      if (c?.stdin === null || c?.stdin === undefined || c.exitCode !== null || c.stdin.destroyed)
        return false;
      c.stdin.write(text);
      return true;
    },
    kill() {
      child?.kill("SIGKILL");
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      const c = child;
      if (c === undefined) return;
      c.kill("SIGTERM");
      await c;
    },
  };
}
