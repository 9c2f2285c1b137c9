// The prober: one probe loop per uplink, each round bound to the uplink's own source address so every
// uplink is measured through itself whichever one is active. It only measures and reports; the daemon's
// step turns rounds into health (core/health/uplink.ts).
import type { ProbeTarget } from "../policy/types.js";
import { probeRound, type RoundResult } from "../effects/probe/round.js";
import type { ProbeAssignment as Assignment } from "../core/decide/daemon-step.js";

export type { Assignment };

export interface ProbeSettings {
  readonly targets: readonly ProbeTarget[];
  readonly timeoutMs: number;
  /** Random delay up to this long before each round, so uplinks and nodes do not probe in lockstep. */
  readonly jitterMs: number;
}

interface Loop {
  assignment: Assignment;
  settings: ProbeSettings;
  timer?: NodeJS.Timeout;
  inFlight?: Promise<void>;
  stopped: boolean;
}

export class Prober {
  private readonly loops = new Map<string, Loop>();

  constructor(
    private readonly onRound: (name: string, source: string, round: RoundResult) => void,
    private readonly random: () => number = Math.random,
  ) {}

  /**
   * Probe exactly these uplinks. A loop whose source or settings changed restarts with a round soon
   * (a new address must be verified quickly); an unchanged one keeps its rhythm.
   */
  configure(settings: ProbeSettings, assignments: readonly Assignment[]): void {
    const wanted = new Map(assignments.map((a) => [a.name, a]));
    for (const [name, loop] of this.loops) {
      const a = wanted.get(name);
      if (a === undefined || a.source !== loop.assignment.source || loop.settings !== settings) {
        this.halt(loop);
        this.loops.delete(name);
      } else loop.assignment = a;
    }
    for (const a of assignments) {
      if (this.loops.has(a.name)) continue;
      const loop: Loop = { assignment: a, settings, stopped: false };
      this.loops.set(a.name, loop);
      this.schedule(loop, this.random() * settings.jitterMs);
    }
  }

  /** Uplinks being probed now, by name → source. */
  sources(): ReadonlyMap<string, string> {
    return new Map([...this.loops].map(([n, l]) => [n, l.assignment.source]));
  }

  async stop(): Promise<void> {
    const flights = [...this.loops.values()].map((l) => {
      this.halt(l);
      return l.inFlight;
    });
    this.loops.clear();
    await Promise.all(flights);
  }

  private halt(loop: Loop): void {
    loop.stopped = true;
    clearTimeout(loop.timer);
  }

  private schedule(loop: Loop, delayMs: number): void {
    loop.timer = setTimeout(() => {
      if (loop.stopped) return;
      loop.inFlight = this.round(loop);
    }, delayMs);
  }

  private async round(loop: Loop): Promise<void> {
    const { name, source } = loop.assignment;
    const started = Date.now();
    const r = await probeRound(loop.settings.targets, {
      source,
      timeoutMs: loop.settings.timeoutMs,
      jitterMs: 0,
      random: this.random,
    });
    if (loop.stopped) return;
    this.onRound(name, source, r);
    const next = loop.assignment.intervalMs + this.random() * loop.settings.jitterMs;
    this.schedule(loop, Math.max(0, started + next - Date.now()));
  }
}
