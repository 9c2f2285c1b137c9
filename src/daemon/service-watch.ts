// Supervision of the processes of ours (every kind whose driver has a `supervision` part: the DHCP
// clients): after every pass the daemon hands over what it observed; a watched process that is gone
// is drift, and the watch asks for a pass (after a backoff when it keeps dying,
// core/decide/restart-backoff.ts) that starts it again. Exits are counted by service (the kind) for
// status and metrics, with the exit's reason when this process had started it.
import { RESTART_WINDOW_MS, restartDelayMs } from "../core/decide/restart-backoff.js";
import { driver, driverOf, keyOf, SUPERVISED_KINDS } from "../kinds/registry.js";
import type { KernelState, KindName, Op } from "../kinds/types.js";
import type { ServiceClient } from "../kinds/driver.js";
import { exitReasonOf } from "../effects/apply/service-process.js";
import { processArgv } from "../effects/proc.js";

export interface ServiceStatus {
  /** The kind of the service ("dhcp-client"). */
  readonly service: KindName;
  readonly iface: string;
  /** The running process, when one is. */
  readonly pid?: number;
  /** Exits seen since the daemon started. */
  readonly exits: number;
  readonly lastExit?: { readonly at: string; readonly reason: string };
  /** For a server: the clients it serves (the hotspot's leases), as last observed. */
  readonly clients?: readonly ServiceClient[];
  /** What the program last said of itself (hostapd: ENABLED once it serves). */
  readonly state?: string;
}

interface Watched {
  readonly service: KindName;
  readonly iface: string;
  pid?: number;
  /** Exits since the daemon started. */
  exits: number;
  /** Times of the recent exits, for the backoff. */
  exitTimes: number[];
  lastExit?: { at: string; reason: string };
  clients?: readonly ServiceClient[];
  state?: string;
}

export class ServiceWatch {
  private readonly watched = new Map<string, Watched>();
  private timer: NodeJS.Timeout | undefined;
  private readonly pendingRestarts = new Set<NodeJS.Timeout>();

  constructor(
    private readonly onExit: (s: {
      service: string;
      iface: string;
      reason: string;
      restartInMs: number;
    }) => void,
    private readonly requestPass: (reason: string) => void,
    private readonly intervalMs = 1000,
  ) {}

  /**
   * What a pass observed: the processes to watch from now on. A watched one that is gone from the
   * observation exited (one a pass stopped was forgotten first, see forget()).
   */
  track(observed: KernelState, now = Date.now()): void {
    const seen = new Set<string>();
    for (const kind of SUPERVISED_KINDS) {
      const sup = driver(kind).supervision!;
      for (const o of observed[kind]) {
        const key = `${kind} ${keyOf(o)}`;
        seen.add(key);
        const w = this.watched.get(key) ?? { service: kind, iface: sup.iface(o), exits: 0, exitTimes: [] };
        const pid = sup.pid(o);
        if (pid !== undefined) w.pid = pid;
        if (sup.clients !== undefined) w.clients = sup.clients(o);
        if (sup.state !== undefined) w.state = sup.state(o);
        this.watched.set(key, w);
      }
    }
    for (const [key, w] of this.watched)
      if (!seen.has(key) && w.pid !== undefined && processArgv(w.pid) === undefined) this.exited(w, now);
  }

  /** A transaction is about to run these ops: a service they stop is going on purpose, no exit. */
  beforeTransact(ops: readonly Op[]): void {
    for (const op of ops) {
      if (op.op !== "delete" || driverOf(op.before).supervision === undefined) continue;
      const w = this.watched.get(`${op.before.kind} ${keyOf(op.before)}`);
      if (w === undefined) continue;
      // Stopped on purpose: what it served and said goes with it.
      delete w.pid;
      delete w.clients;
      delete w.state;
    }
  }

  start(): void {
    this.timer ??= setInterval(() => this.check(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    for (const t of this.pendingRestarts) clearTimeout(t);
    this.pendingRestarts.clear();
  }

  /** Look for exits now (the interval calls it). */
  check(now = Date.now()): void {
    for (const w of this.watched.values())
      if (w.pid !== undefined && processArgv(w.pid) === undefined) this.exited(w, now);
  }

  private exited(w: Watched, now: number): void {
    if (w.pid === undefined) return;
    const reason = exitReasonOf(w.pid) ?? "exited (not started by this daemon: no exit status known)";
    delete w.pid;
    delete w.state;
    w.exits++;
    w.exitTimes = [...w.exitTimes.filter((t) => now - t < RESTART_WINDOW_MS), now];
    w.lastExit = { at: new Date(now).toISOString(), reason };
    const restartInMs = restartDelayMs(w.exitTimes, now);
    this.onExit({ service: w.service, iface: w.iface, reason, restartInMs });
    const t = setTimeout(() => {
      this.pendingRestarts.delete(t);
      this.requestPass(`${w.service} ${w.iface} exited`);
    }, restartInMs);
    this.pendingRestarts.add(t);
  }

  status(): ServiceStatus[] {
    return [...this.watched.values()]
      .map((w) => ({
        service: w.service,
        iface: w.iface,
        ...(w.pid === undefined ? {} : { pid: w.pid }),
        exits: w.exits,
        ...(w.lastExit === undefined ? {} : { lastExit: { ...w.lastExit } }),
        ...(w.clients === undefined ? {} : { clients: w.clients }),
        ...(w.state === undefined ? {} : { state: w.state }),
      }))
      .sort((a, b) => (a.iface < b.iface ? -1 : a.iface > b.iface ? 1 : 0));
  }
}
