// systemd integration: sd_notify(3) messages (READY, STATUS, WATCHDOG, STOPPING). Node has no unix
// datagram sockets, so the messages go through systemd-notify(1) (package systemd), which waits until
// systemd has processed each one: the unit needs NotifyAccess=all, since the sender is our child.
// Nothing at all happens when NOTIFY_SOCKET is unset (not started by systemd as Type=notify).
import { run } from "../effects/exec.js";

export type Env = Readonly<Record<string, string | undefined>>;

/** The socket systemd listens on for our notifications, or undefined when there is none. */
export function notifySocket(env: Env = process.env): string | undefined {
  const s = env["NOTIFY_SOCKET"];
  return s === undefined || s === "" ? undefined : s;
}

/**
 * The watchdog interval systemd set for this process (WatchdogSec, from WATCHDOG_USEC): a WATCHDOG=1
 * must arrive within it or systemd kills and restarts the service. Undefined when there is no
 * watchdog, or when WATCHDOG_PID names another process (the variables were inherited, not ours).
 */
export function watchdogIntervalMs(env: Env = process.env, pid: number = process.pid): number | undefined {
  const usec = env["WATCHDOG_USEC"];
  if (usec === undefined || !/^[1-9][0-9]*$/.test(usec)) return undefined;
  const forPid = env["WATCHDOG_PID"];
  if (forPid !== undefined && forPid !== "" && Number(forPid) !== pid) return undefined;
  return Number(usec) / 1000;
}

const FIELD = /^[A-Z][A-Z0-9_]*$/;

/**
 * Send one notification (fields in one message). Resolves false without doing anything when
 * NOTIFY_SOCKET is unset; rejects when systemd-notify fails (missing tool, socket gone).
 */
export async function sdNotify(
  fields: Readonly<Record<string, string>>,
  env: Env = process.env,
): Promise<boolean> {
  const socket = notifySocket(env);
  if (socket === undefined) return false;
  const assignments = Object.entries(fields).map(([k, v]) => {
    if (!FIELD.test(k)) throw new Error(`sd_notify: ${JSON.stringify(k)} is not a notification field name`);
    if (/[\n\0]/.test(v)) throw new Error(`sd_notify: the value of ${k} must be one line`);
    return `${k}=${v}`;
  });
  if (assignments.length === 0) throw new Error("sd_notify: nothing to send");
  await run(["systemd-notify", ...assignments], { env: { NOTIFY_SOCKET: socket }, timeoutMs: 5000 });
  return true;
}

export interface NotifierOptions {
  readonly env?: Env;
  readonly pid?: number;
  /** The clock for the watchdog's rate limit (tests). */
  readonly now?: () => number;
}

/**
 * What the daemon tells systemd over its life: READY once the first pass is done, STATUS when its
 * one-line summary changes, WATCHDOG after healthy passes only, STOPPING on shutdown.
 */
export class SystemdNotifier {
  private readonly env: Env;
  private readonly now: () => number;
  /** WatchdogSec in ms, or undefined: no watchdog. */
  readonly watchdogMs: number | undefined;
  private lastPing = -Infinity;
  private lastStatus: string | undefined;

  constructor(o: NotifierOptions = {}) {
    this.env = o.env ?? process.env;
    this.now = o.now ?? Date.now;
    this.watchdogMs = watchdogIntervalMs(this.env, o.pid ?? process.pid);
  }

  /** Whether systemd listens (NOTIFY_SOCKET set): otherwise every method does nothing. */
  get enabled(): boolean {
    return notifySocket(this.env) !== undefined;
  }

  /** The service is up: systemd starts the units ordered after it. */
  async ready(status: string): Promise<boolean> {
    this.lastStatus = status;
    return sdNotify({ READY: "1", STATUS: status }, this.env);
  }

  /** The one-line status `systemctl status` shows; sent only when it changed. */
  async status(status: string): Promise<boolean> {
    if (status === this.lastStatus) return false;
    this.lastStatus = status;
    return sdNotify({ STATUS: status }, this.env);
  }

  /**
   * Call after every HEALTHY pass, never after a failed one: a loop that is stuck or keeps failing
   * stops pinging, and systemd restarts the service. Pings at most once per half watchdog interval
   * (the pass rate must not become the ping rate); true when a ping was sent.
   */
  async healthyPass(): Promise<boolean> {
    if (this.watchdogMs === undefined || !this.enabled) return false;
    const now = this.now();
    if (now - this.lastPing < this.watchdogMs / 2) return false;
    this.lastPing = now;
    return sdNotify({ WATCHDOG: "1" }, this.env);
  }

  /** Shutdown has begun. */
  async stopping(status = "stopping"): Promise<boolean> {
    this.lastStatus = status;
    return sdNotify({ STOPPING: "1", STATUS: status }, this.env);
  }
}
