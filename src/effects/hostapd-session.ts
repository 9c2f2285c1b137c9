// One long-lived interactive `hostapd_cli` per access point of ours, instead of a process per read.
// In interactive mode hostapd_cli attaches to hostapd's control socket, so it prints hostapd's events
// ("<3>AP-STA-CONNECTED ...", "<3>AP-DISABLED") as they happen, and answers the commands written to
// its standard input in order. A request is `status` followed by `ping`: the ping's answer ("PONG",
// or "'PING' command failed." when hostapd went away) ends the status answer. Whatever hostapd_cli
// prints that is not an answer says something changed: an event, the connection made, lost or made
// again. Its standard output is a pipe, which stdio buffers whole blocks into: hostapd_cli flushes it
// only when it prints a prompt, so an event would wait for the next command; `stdbuf -oL` makes it
// line-buffered, so each event arrives as it is printed. Until it says "Interactive mode" it is still connecting and reads no command, so a request
// then gets no answer at once (hostapd does not serve yet) instead of waiting.
import { HOSTAPD_CLI_INPUT } from "../kinds/services/hostapd.js";
import { missingToolMessage } from "./exec.js";
import { supervise, type RestartInfo, type Supervised } from "./supervised.js";

export interface HostapdSessionOptions {
  /** hostapd's ctrl_interface directory, and the interface it serves. */
  readonly ctrlDir: string;
  readonly iface: string;
  readonly netns?: string;
  /** hostapd said something happened (an event), or the connection to it came or went. */
  readonly onChange: (what: string) => void;
  readonly onRestart?: (info: RestartInfo) => void;
  /** hostapd_cli (or stdbuf) is not installed: the access point's state stays unknown. */
  readonly onMissing?: (message: string) => void;
  /** How long an answer may take before the process is taken for hung and replaced. */
  readonly timeoutMs?: number;
}

interface Pending {
  readonly lines: string[];
  readonly resolve: (out: string | undefined) => void;
}

/** The line without hostapd_cli's prompts ("> "), which it prints before each answer and event. */
function unprompted(line: string): string {
  return line.replace(/^(> )+/, "");
}

export class HostapdSession {
  private readonly proc: Supervised;
  private connected = false;
  private buffer = "";
  private pending: Pending | undefined;
  private missingTold = false;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly o: HostapdSessionOptions) {
    this.proc = supervise({
      argv: ["stdbuf", "-oL", "hostapd_cli", "-p", o.ctrlDir, "-i", o.iface],
      ...(o.netns === undefined ? {} : { netns: o.netns }),
      input: true,
      onStdout: (chunk) => this.onStdout(chunk),
      ...(o.onMissing === undefined ? {} : { onMissing: o.onMissing }),
      onDeath: (reason) => {
        // stdbuf runs, and says so, when hostapd_cli is not there: told once, tried again with backoff.
        if (/failed to run command/.test(reason) && !this.missingTold) {
          this.missingTold = true;
          o.onMissing?.(missingToolMessage("hostapd_cli"));
        }
        this.lost("hostapd_cli died");
      },
      onRestart: (info) => {
        this.buffer = "";
        o.onRestart?.(info);
      },
    });
  }

  /** The process runs and is attached to hostapd: its events reach us. */
  attached(): boolean {
    return this.connected && this.proc.listening();
  }

  /**
   * hostapd_cli's answer to `status` (key=value lines), or undefined when hostapd does not answer:
   * not attached (yet), the command failed, or no answer in time (the process is then replaced).
   */
  status(): Promise<string | undefined> {
    const next = this.queue.then(() => this.ask());
    this.queue = next.catch(() => undefined);
    return next;
  }

  async stop(): Promise<void> {
    this.connected = false;
    this.pending?.resolve(undefined);
    this.pending = undefined;
    await this.proc.stop();
  }

  private ask(): Promise<string | undefined> {
    if (!this.connected) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        if (this.pending !== p) return;
        this.pending = undefined;
        resolve(undefined);
        this.lost("hostapd_cli did not answer");
        this.proc.kill();
      }, this.o.timeoutMs ?? 3000);
      const p: Pending = {
        lines: [],
        resolve: (out) => {
          clearTimeout(timer);
          resolve(out);
        },
      };
      this.pending = p;
      if (!this.proc.write(`${HOSTAPD_CLI_INPUT}ping\n`)) {
        this.pending = undefined;
        p.resolve(undefined);
      }
    });
  }

  private lost(what: string): void {
    const was = this.connected;
    this.connected = false;
    const p = this.pending;
    this.pending = undefined;
    p?.resolve(undefined);
    if (was) this.o.onChange(what);
  }

  private onStdout(chunk: string): void {
    this.buffer += chunk;
    let nl: number;
    while ((nl = this.buffer.indexOf("\n")) >= 0) {
      const line = unprompted(this.buffer.slice(0, nl));
      this.buffer = this.buffer.slice(nl + 1);
      this.onLine(line);
    }
  }

  private onLine(line: string): void {
    if (/^<\d+>/.test(line)) {
      this.o.onChange(`hostapd ${this.o.iface}: ${line.replace(/^<\d+>/, "").trim()}`);
      return;
    }
    if (line === "Interactive mode" || line.startsWith("Connection to hostapd re-established")) {
      this.connected = true;
      this.o.onChange(`hostapd ${this.o.iface}: attached`);
      return;
    }
    if (line.startsWith("Connection to hostapd lost")) {
      this.lost(`hostapd ${this.o.iface}: connection lost`);
      return;
    }
    const p = this.pending;
    if (p === undefined) return;
    if (line === "PONG" || line === "'PING' command failed.") {
      this.pending = undefined;
      p.resolve(line === "PONG" ? p.lines.join("\n") + "\n" : undefined);
      return;
    }
    p.lines.push(line);
  }
}
