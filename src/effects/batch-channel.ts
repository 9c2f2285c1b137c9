// One long-lived `ip ... -batch -` process that serves request after request, instead of a process per
// read or write. iproute2 runs each line as it arrives and, with -j, prints each show command's answer
// as one line of JSON at once; a write prints nothing. So every request ends with a sentinel read
// (`link show dev lo`, one line): its answer marks the end of the request's output. Without -force, ip
// stops at the first failing line, says "Command failed -:N" (N counted over the process's whole
// input) and exits: the failing line of the request is N minus the lines sent before it, exactly as a
// fresh batch would name it, and the next request starts a new process (after a wait that doubles
// while starts keep failing quickly).
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { netnsArgv, processCounter } from "./exec.js";
import { DEFAULT_BACKOFF, restartDelayMs, type BackoffOptions } from "./supervised.js";

const SENTINEL = "link show dev lo";

/** The 1-based failing line iproute2 reports ("Command failed -:N"), or undefined. */
export function failingLine(stderr: string): number | undefined {
  const m = /Command failed -:(\d+)/.exec(stderr);
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

/** What a batch tool said on standard error, one line, without iproute2's "Command failed" line. */
export function failureMessage(stderr: string): string {
  return stderr
    .split("\n")
    .filter((l) => l.trim() !== "" && !/^Command failed/.test(l))
    .join("; ");
}

export type ChannelAnswer =
  | {
      readonly ok: true;
      /** One answer per line of a read request (none for a write). */
      readonly outputs: readonly string[];
    }
  | {
      readonly ok: false;
      /** The request's failing line, 1-based (the lines before it ran). */
      readonly line: number;
      /** What ip said, without its "Command failed" line. */
      readonly message: string;
    };

export interface ChannelOptions {
  /** The argv without `-batch -`: ["ip", "-6", "-N", "-j", "-d"]. Must include -j (the sentinel's answer). */
  readonly argv: readonly string[];
  readonly netns?: string;
  readonly timeoutMs?: number;
  readonly backoff?: Partial<BackoffOptions>;
}

interface Waiting {
  /** Output lines that end the request: one per read line, and the sentinel's. */
  readonly expect: number;
  /** The request's own lines (the sentinel comes after them). */
  readonly count: number;
  readonly base: number;
  readonly lines: string[];
  stderr: string;
  readonly resolve: (a: ChannelAnswer) => void;
  readonly reject: (e: Error) => void;
}

export class ChannelError extends Error {
  override name = "ChannelError";
}

export class BatchChannel {
  private child: ChildProcessWithoutNullStreams | undefined;
  /** Lines this process has been sent (ip numbers its failing line over all of them). */
  private sent = 0;
  private out = "";
  private waiting: Waiting | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private quickFailures = 0;
  private startedAt = 0;
  private lastDeath = 0;
  private closed = false;
  /** Processes started (the first and every restart). */
  starts = 0;

  constructor(private readonly o: ChannelOptions) {
    if (!o.argv.includes("-j")) throw new Error("a batch channel needs -j: the sentinel answers in JSON");
  }

  /** The running process's pid, if one runs. */
  pid(): number | undefined {
    return this.child?.pid;
  }

  /**
   * Run `lines` in order. `reads`: every line is a show command that answers with one line of JSON;
   * otherwise none prints anything (writes). Requests run one at a time, in the order they came.
   */
  request(lines: readonly string[], mode: "read" | "write"): Promise<ChannelAnswer> {
    const next = this.queue.then(() => this.send(lines, mode));
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Start the process now, so the first request does not wait for it. */
  warm(): void {
    const next = this.queue.then(() => this.ensure());
    this.queue = next.catch(() => undefined);
  }

  /** Stop the process (it exits on end of input). */
  async close(): Promise<void> {
    this.closed = true;
    await this.queue;
    const c = this.child;
    if (c === undefined) return;
    c.stdin.end();
    if (c.exitCode === null && c.signalCode === null) await new Promise((r) => c.once("exit", r));
  }

  private async ensure(): Promise<ChildProcessWithoutNullStreams> {
    if (this.closed) throw new ChannelError("the channel is closed");
    if (this.child !== undefined) return this.child;
    if (this.quickFailures > 0) {
      const backoff = { ...DEFAULT_BACKOFF, ...this.o.backoff };
      const wait = restartDelayMs(this.quickFailures, backoff) - (Date.now() - this.lastDeath);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    const full = netnsArgv([...this.o.argv, "-batch", "-"], this.o.netns);
    processCounter.started++;
    this.starts++;
    const child = spawn(full[0]!, full.slice(1), {
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, LC_ALL: "C" },
    });
    this.child = child;
    this.sent = 0;
    this.out = "";
    this.startedAt = Date.now();
    child.stdout.setEncoding("utf8");
    child.stderr.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => this.onStdout(chunk));
    child.stderr.on("data", (chunk: string) => {
      if (this.waiting !== undefined) this.waiting.stderr += chunk;
    });
    // A write after ip exited (it stops at a failing line) fails with EPIPE: the exit says what happened.
    child.stdin.on("error", () => undefined);
    child.on("error", (e) => this.onExit(child, `${full[0]}: ${e.message}`));
    child.on("exit", (code, signal) =>
      this.onExit(child, signal !== null ? `killed by ${signal}` : `exited with code ${code}`),
    );
    return child;
  }

  private onStdout(chunk: string): void {
    const w = this.waiting;
    this.out += chunk;
    if (w === undefined) return;
    let nl: number;
    while ((nl = this.out.indexOf("\n")) >= 0) {
      w.lines.push(this.out.slice(0, nl));
      this.out = this.out.slice(nl + 1);
      if (w.lines.length === w.expect) {
        this.waiting = undefined;
        const sentinel = w.lines.pop()!;
        if (!/^\[\{"ifindex":\d+,"ifname":"lo"/.test(sentinel)) {
          w.reject(
            new ChannelError(`ip batch channel: unexpected answer ${JSON.stringify(sentinel.slice(0, 80))}`),
          );
          this.kill();
          return;
        }
        w.resolve({ ok: true, outputs: w.lines });
        return;
      }
    }
  }

  private onExit(child: ChildProcessWithoutNullStreams, how: string): void {
    if (this.child !== child) return;
    this.child = undefined;
    this.lastDeath = Date.now();
    this.quickFailures =
      this.lastDeath - this.startedAt >= DEFAULT_BACKOFF.resetAfterMs ? 0 : this.quickFailures + 1;
    const w = this.waiting;
    this.waiting = undefined;
    if (w === undefined) return;
    const n = failingLine(w.stderr);
    const line = n === undefined ? undefined : n - w.base;
    if (line !== undefined && line >= 1 && line <= w.count) {
      const message = failureMessage(w.stderr);
      // A failing request is an answer, not a fault of the channel.
      this.quickFailures = 0;
      w.resolve({ ok: false, line, message: message || "failed" });
      return;
    }
    w.reject(
      new ChannelError(`ip batch channel ${how}${w.stderr.trim() === "" ? "" : `: ${w.stderr.trim()}`}`),
    );
  }

  private kill(): void {
    this.child?.kill("SIGKILL");
  }

  private async send(lines: readonly string[], mode: "read" | "write"): Promise<ChannelAnswer> {
    const child = await this.ensure();
    const timeoutMs = this.o.timeoutMs ?? 30_000;
    return new Promise<ChannelAnswer>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.waiting === w) {
          this.waiting = undefined;
          reject(new ChannelError(`ip batch channel: no answer within ${timeoutMs} ms`));
          this.kill();
        }
      }, timeoutMs);
      const done =
        <T>(f: (x: T) => void) =>
        (x: T) => {
          clearTimeout(timer);
          f(x);
        };
      const w: Waiting = {
        expect: (mode === "read" ? lines.length : 0) + 1,
        count: lines.length,
        base: this.sent,
        lines: [],
        stderr: "",
        resolve: done(resolve),
        reject: done(reject),
      };
      this.waiting = w;
      this.sent += lines.length + 1;
      child.stdin.write([...lines, SENTINEL].join("\n") + "\n");
    });
  }
}
