// A webhook that never holds up its caller: post() only hands the document over; one sender loop
// delivers it (JSON POST), retrying with doubling backoff. Each document is the whole report of the
// moment, so a newer one replaces one still waiting: the receiver gets the latest, never a backlog.
export interface WebhookOptions {
  /** Attempts per document (first try included). */
  readonly attempts?: number;
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** Per attempt. */
  readonly timeoutMs?: number;
  /** Called when a document could not be delivered after every attempt (no URL in it: it may hold a token). */
  readonly onGiveUp?: (why: string) => void;
}

export class Webhook {
  private waiting: unknown;
  private hasWaiting = false;
  private loop: Promise<void> | undefined;
  private stopped = false;
  private wake: (() => void) | undefined;
  private deliveredCount = 0;

  constructor(
    readonly url: string,
    private readonly o: WebhookOptions = {},
  ) {}

  get delivered(): number {
    return this.deliveredCount;
  }

  post(document: unknown): void {
    if (this.stopped) return;
    this.waiting = document;
    this.hasWaiting = true;
    this.loop ??= this.send().finally(() => (this.loop = undefined));
  }

  /** Stop retrying; waits for an attempt in flight (bounded by its timeout). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
  }

  private async send(): Promise<void> {
    const attempts = this.o.attempts ?? 5;
    const maxBackoff = this.o.maxBackoffMs ?? 30_000;
    while (this.hasWaiting && !this.stopped) {
      const doc = this.waiting;
      this.hasWaiting = false;
      let backoff = this.o.initialBackoffMs ?? 1000;
      let why = "";
      for (let attempt = 1; attempt <= attempts && !this.stopped; attempt++) {
        why = await this.attempt(doc);
        if (why === "") {
          this.deliveredCount++;
          break;
        }
        // A newer report supersedes this one: send that instead of retrying.
        if (this.hasWaiting || this.stopped || attempt === attempts) break;
        await this.pause(backoff);
        backoff = Math.min(backoff * 2, maxBackoff);
      }
      if (why !== "" && !this.hasWaiting && !this.stopped)
        this.o.onGiveUp?.(`${attempts} attempts, last: ${why}`);
    }
  }

  /** One POST: "" when the receiver took it, else why not. */
  private async attempt(doc: unknown): Promise<string> {
    try {
      const res = await fetch(this.url, {
        method: "POST",
        headers: { "content-type": "application/json", "user-agent": "backhaul" },
        body: JSON.stringify(doc),
        redirect: "error",
        signal: AbortSignal.timeout(this.o.timeoutMs ?? 5000),
      });
      await res.arrayBuffer();
      return res.ok ? "" : `HTTP ${res.status}`;
    } catch (e) {
      const cause = e instanceof Error && e.cause instanceof Error ? `: ${e.cause.message}` : "";
      return `${e instanceof Error ? e.message : String(e)}${cause}`;
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.wake = undefined;
        resolve();
      };
      const t = setTimeout(done, ms);
      this.wake = done;
    });
  }
}
