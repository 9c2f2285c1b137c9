// The level-triggered loop: every trigger (kernel event, health transition, policy change, the
// periodic safety net) asks for the same full pass. Triggers that arrive while a pass runs coalesce
// into one follow-up pass; a failed pass is retried with exponential backoff, never in a hot loop;
// the periodic pass has jitter so a fleet does not pass in lockstep.

export interface SchedulerOptions {
  /** Period of the safety-net pass. */
  readonly periodMs: number;
  /** Up to this fraction of the period added at random to each periodic wait. */
  readonly periodJitter: number;
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
  readonly random?: () => number;
}

export type PassOutcome = { readonly ok: true } | { readonly ok: false; readonly error: unknown };

export interface PassRequest {
  /** Every reason that asked for this pass since the last one began. */
  readonly reasons: readonly string[];
}

export class Scheduler {
  private running = false;
  private stopped = false;
  private pending: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;
  private idle: Promise<void> = Promise.resolve();
  private resolveIdle: (() => void) | undefined;

  constructor(
    private readonly pass: (req: PassRequest) => Promise<PassOutcome>,
    private readonly o: SchedulerOptions,
  ) {}

  /** Ask for a pass. Returns at once; the pass runs as soon as none is in flight. */
  trigger(reason: string): void {
    if (this.stopped) return;
    this.pending.push(reason);
    if (!this.running) this.schedule(0);
  }

  start(): void {
    this.trigger("start");
  }

  /** Stop scheduling; resolves once the pass in flight (if any) has finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.idle;
  }

  /** The delay before the next retry after `failures` consecutive failed passes. */
  backoffMs(failures: number): number {
    return Math.min(this.o.backoffMaxMs, this.o.backoffInitialMs * 2 ** Math.max(0, failures - 1));
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.runPass(), ms);
  }

  private periodicDelay(): number {
    const random = this.o.random ?? Math.random;
    return Math.round(this.o.periodMs * (1 + this.o.periodJitter * random()));
  }

  private async runPass(): Promise<void> {
    if (this.stopped || this.running) return;
    this.running = true;
    this.idle = new Promise((r) => (this.resolveIdle = r));
    const reasons = this.pending.length > 0 ? this.pending : ["periodic"];
    this.pending = [];
    let outcome: PassOutcome;
    try {
      outcome = await this.pass({ reasons });
    } catch (error) {
      outcome = { ok: false, error };
    }
    this.running = false;
    this.resolveIdle?.();
    if (this.stopped) return;
    if (!outcome.ok) {
      this.failures++;
      this.schedule(this.backoffMs(this.failures));
    } else {
      this.failures = 0;
      this.schedule(this.pending.length > 0 ? 0 : this.periodicDelay());
    }
  }
}
