// `backhaul run`: the reconciler as a daemon. Level-triggered: every trigger (a kernel event, a health
// transition, a policy change, the periodic safety net) asks for the same full pass
//   observe → health → desired → plan (invariants on the model kernel) → transact (journal, execute,
//   verify, roll back)
// and the scheduler coalesces triggers and backs off after failures. A carrier loss on the active
// uplink takes the fast path (core/decide/fast-path.ts) first. Every decision is the pure step's
// (core/decide/daemon-step.ts); this class performs its intents and feeds their results back. One pass
// at a time: passes and the fast path share one mutex, and the daemon holds the namespace's writer lock
// for its whole life. It reads the kernel from its observed-state cache (effects/observe-cache.ts),
// which the kernel's own events keep current, and writes through long-lived `ip -batch` channels: a
// pass starts no process unless something changed that only a process can read. Once per
// resyncInterval a pass resyncs the cache (a fresh read, every disagreement logged and counted).
import { performance } from "node:perf_hooks";
import type { Logger } from "pino";
import { FAULT_ENV, faultFromEnv } from "../effects/apply/fault-env.js";
import { transact, type TxContext, type TxResult } from "../effects/apply/transaction.js";
import { ServiceWatch } from "./service-watch.js";
import { openWriter, txContextOf, type Writer } from "../effects/apply/writer.js";
import { CLEANUP_KINDS, describeOp, objectOfOp, ownedState, splitIndependent } from "../kinds/registry.js";
import type { KernelState, Op } from "../kinds/types.js";
import { applyOps } from "../core/model-kernel/index.js";
import { diff } from "../core/plan/diff.js";
import { orderOps } from "../core/plan/order.js";
import { ObserveCache, type CacheMismatch } from "../effects/observe-cache.js";
import { BatchChannel } from "../effects/batch-channel.js";
import { hotspotFiles, plannerInputs, type PlannerInputs } from "../core/plan/inputs.js";
import { loadPolicy } from "../policy/load.js";
import type { EffectivePolicy } from "../policy/types.js";
import type { Selection } from "../core/selection/types.js";
import { digest } from "../util/canonical.js";
import type { Family } from "../kinds/driver.js";
import { formatOneLine } from "../policy/diagnostic-line.js";
import type { LinkChange } from "../core/decide/fast-path.js";
import {
  hotspotDue,
  prepareFastPlans,
  initialState,
  startedOn,
  step,
  type DaemonEvent,
  type DaemonState,
  type Intent,
  type PassResult,
} from "../core/decide/daemon-step.js";
import type { Tracked } from "../core/health/uplink.js";
import { driftReport, type DriftItem } from "../core/drift.js";
import { Webhook } from "../effects/webhook.js";
import type { RoundResult } from "../effects/probe/round.js";
import { HotspotKeeper } from "./hotspot-keeper.js";
import { hotspotStatus, type PassphraseFacts } from "./hotspot-status.js";
import { passphraseFingerprint, passphraseSince } from "../effects/hotspot/credentials.js";
import { onBattery } from "./power.js";
import { Prober } from "./prober.js";
import { Scheduler, type PassOutcome as SchedulerOutcome, type PassRequest } from "./scheduler.js";
import { UsageLedger, usageLedgerPath, type MeteredUplink } from "./ledger.js";
import { bookPass, emptyBook, statusOf, type PassBook, type PassReport } from "./pass-book.js";
import type { DaemonStatus, PassRecord } from "./status-model.js";

export { previousFromKernel } from "../core/decide/daemon-step.js";
export type { PassReport } from "./pass-book.js";

export interface DaemonOptions {
  readonly policyPath: string;
  /** The namespace the daemon runs in and manages (names its state files); undefined: the host. */
  readonly netns: string | undefined;
  readonly log: Logger;
  /** The safety-net pass runs at least this often (systemd's watchdog needs healthy passes). */
  readonly periodCapMs?: number;
}

/** The policy in force, with what identifies it. */
export interface PolicyInForce {
  readonly policy: EffectivePolicy;
  readonly digest: string;
  readonly loadedAt: number;
}

/** Errors of a policy file, one line each with file:line:col. */
export async function loadOrErrors(
  path: string,
): Promise<{ ok: true; policy: EffectivePolicy } | { ok: false; errors: string[] }> {
  const r = await loadPolicy(path);
  if (r.ok) return { ok: true, policy: r.policy };
  return { ok: false, errors: r.diagnostics.filter((d) => d.severity === "error").map(formatOneLine) };
}

/** The policy's metered uplinks with the interfaces they stand for now (for the usage ledger). */
export function meteredUplinks(policy: EffectivePolicy, inputs: PlannerInputs): MeteredUplink[] {
  return policy.uplinks.flatMap((u) => {
    if (u.metered === undefined) return [];
    const iface = inputs.uplinks.find((s) => s.name === u.name)?.iface;
    // An uplink whose match found nothing has a placeholder name no interface can have.
    return [{ name: u.name, iface: iface?.startsWith("match:") ? undefined : iface, metered: u.metered }];
  });
}

const round2 = (ms: number): number => Math.round(ms * 100) / 100;

/** How long passes must have been quiet before the carrier-loss plans are made ahead. */
const PREPARE_AFTER_MS = 250;

/** When the pass in flight began, and what of it has been measured so far. */
interface PassClock {
  readonly at: number;
  readonly t0: number;
  readonly observeMs?: number;
  writtenAt?: number;
}

export class Daemon {
  private state: DaemonState;
  private loadedAt = Date.now();
  private book: PassBook = emptyBook();
  private clock: PassClock | undefined;
  private mutex: Promise<unknown> = Promise.resolve();
  /** When the cache was last read whole (its start, or a resync). */
  private resyncedAt = Date.now();
  private prepareTimer: NodeJS.Timeout | undefined;
  /** Link events waiting for the mutex: a full pass that finds one gives way to its fast path. */
  private linksWaiting = 0;
  /** The loop runs (start() is done): kernel events become fast paths and passes. */
  private running = false;
  private readonly scheduler: Scheduler;
  private readonly prober: Prober;
  private writer: Writer | undefined;
  private readonly listeners: ((r: PassReport) => void)[] = [];
  private readonly changeListeners: (() => void)[] = [];
  private readonly exitListeners: ((s: { service: string; iface: string }) => void)[] = [];
  /** Our services' processes: one that exits is drift, started again by a pass (with backoff). */
  private readonly services = new ServiceWatch(
    (x) => {
      this.o.log.warn(
        { service: x.service, iface: x.iface, reason: x.reason, restartInMs: x.restartInMs },
        `${x.service} on ${x.iface} ${x.reason}: starting it again${x.restartInMs > 0 ? ` in ${x.restartInMs} ms` : ""}`,
      );
      for (const l of this.exitListeners) l(x);
      this.changed();
    },
    (reason) => this.trigger(reason),
  );
  /** The hotspot's passphrase rotation and the passes its timed changes need. */
  private readonly hotspot = new HotspotKeeper((reason) => this.trigger(reason));
  private ledger: UsageLedger | undefined;
  private webhook: Webhook | undefined;
  /** The observed state, kept by kernel events (the monitor's link events also feed the fast path). */
  private readonly cache: ObserveCache;
  /** Long-lived `ip -batch` processes for writes, per family (undefined: family-neutral lines). */
  private readonly writeChannels = new Map<Family | undefined, BatchChannel>();
  private readonly mismatchListeners: ((m: CacheMismatch) => void)[] = [];
  /** The executor's test hook (BACKHAUL_FAULT), on every transaction as `apply` has it. */
  private readonly fault = faultFromEnv(process.env[FAULT_ENV], (line) => this.o.log.warn(line));

  constructor(
    private readonly o: DaemonOptions,
    policy: EffectivePolicy,
  ) {
    this.state = initialState(policy, digest(policy), Date.now(), o.netns);
    this.prober = new Prober((name, source, round) => this.onProbeRound(name, source, round));
    this.cache = new ObserveCache({
      stateDir: () => this.stateDir,
      // Before the loop runs, the cache keeps what an event makes stale, and the first pass reads it.
      onEvent: (e) => {
        if (!this.running) return;
        if (e.kind === "link") this.onLinkChange(e);
        else this.trigger(`${e.kind} ${e.ifname ?? ""}`.trim());
      },
      onChange: (what) => {
        if (this.running) this.trigger(what);
      },
      onRestart: (stream, info) => {
        this.o.log.warn(
          { ...info, stream },
          `${stream} monitor restarted: running a full pass on a fresh read for the events it missed`,
        );
        this.trigger(`${stream} monitor restarted`);
      },
      onError: (e) => this.o.log.warn({ err: e }, e.message),
      onMismatch: (m) => {
        this.o.log.error(
          { cacheMismatch: m },
          `observed-state cache disagreed with the kernel on ${m.kind} ${m.key}: the kernel's is kept`,
        );
        for (const l of this.mismatchListeners) l(m);
      },
    });
    this.scheduler = new Scheduler((req) => this.fullPass(req), {
      periodMs: Math.min(policy.daemon.resyncInterval, o.periodCapMs ?? Infinity),
      periodJitter: 0.2,
      backoffInitialMs: 50,
      backoffMaxMs: 30_000,
    });
  }

  get policy(): PolicyInForce {
    return { policy: this.state.policy, digest: this.state.digest, loadedAt: this.loadedAt };
  }

  get lastSelection(): Selection | undefined {
    return this.state.selection;
  }

  get health(): ReadonlyMap<string, Tracked> {
    return this.state.tracked;
  }

  get history(): readonly PassRecord[] {
    return this.book.passes;
  }

  /** Drift the last full pass found: owned objects changed behind the daemon's back, conflicts. */
  get drift(): readonly DriftItem[] {
    return this.state.drift;
  }

  /** Called after every pass (full or fast), in order. */
  onPass(listener: (r: PassReport) => void): void {
    this.listeners.push(listener);
  }

  /** Called when a service of ours is found to have exited. */
  onServiceExit(listener: (s: { service: string; iface: string }) => void): void {
    this.exitListeners.push(listener);
  }

  /** Called for each disagreement a resync finds between the observed-state cache and the kernel. */
  onCacheMismatch(listener: (m: CacheMismatch) => void): void {
    this.mismatchListeners.push(listener);
  }

  /** Called whenever the status may have changed (a pass began or ended, health moved, a policy edit). */
  onChange(listener: () => void): void {
    this.changeListeners.push(listener);
  }

  private changed(): void {
    for (const l of this.changeListeners) l();
  }

  private get stateDir(): string {
    return this.state.policy.daemon.stateDir;
  }

  private observeKernel(): Promise<KernelState> {
    return this.cache.read();
  }

  private writeChannel(family: Family | undefined): BatchChannel {
    let c = this.writeChannels.get(family);
    if (c === undefined) {
      c = new BatchChannel({ argv: ["ip", ...(family === undefined ? [] : [`-${family}`]), "-j"] });
      this.writeChannels.set(family, c);
    }
    return c;
  }

  private txContext(inputs: PlannerInputs): TxContext {
    return {
      ...txContextOf(this.state.policy, inputs.ownership, this.o.netns, this.fault),
      kernel: {
        observe: () => this.observeKernel(),
        touched: (ops) => this.cache.touched(new Set(ops.map((op) => objectOfOp(op).kind))),
        ipChannel: (family) => this.writeChannel(family),
      },
    };
  }

  /**
   * Become the namespace's writer (its lock, and recovery of what a crashed apply or daemon left in
   * the journal), then start the loop. Throws when another writer holds the lock or recovery fails:
   * the daemon must not run then.
   */
  async start(): Promise<void> {
    const writer = await openWriter(this.state.policy, this.o.netns, "run");
    this.writer = writer;
    if (writer.tookOverFrom !== undefined)
      this.o.log.warn({ stale: writer.tookOverFrom }, "took over the lock of a process that is gone");
    const r = writer.recovered;
    if (r !== undefined)
      this.o.log.warn(
        {
          outcome: r.outcome,
          journal: r.journal.id,
          createdAt: r.journal.createdAt,
          executed: r.journal.executed,
          ops: r.journal.ops.length,
          restoreOps: r.restored.ok ? r.restored.ops : 0,
        },
        r.outcome === "completed"
          ? "found an apply that had finished all its ops: closed its journal"
          : "recovered an unfinished apply: restored the state before it",
      );
    const observed = await this.cache.start();
    this.resyncedAt = Date.now();
    this.state = startedOn(this.state, observed);
    const opened = await UsageLedger.open({ path: usageLedgerPath(this.stateDir, this.o.netns) });
    if (opened.corrupt !== undefined)
      this.o.log.error(
        { err: opened.corrupt },
        `the usage ledger was damaged and has been kept aside; counting starts again: ${opened.corrupt.message}`,
      );
    this.ledger = opened.ledger;
    // The fast path's batch (IPv4 routes and rules) finds its `ip` already started.
    this.writeChannel(4).warm();
    this.running = true;
    this.scheduler.start();
    this.services.start();
  }

  /**
   * Finish the pass in flight and stop. The kernel stays as it is, unless `cleanup` asks to remove
   * what is ours (still under the lock).
   */
  async stop(o: { readonly cleanup?: boolean } = {}): Promise<TxResult | undefined> {
    this.running = false;
    clearTimeout(this.prepareTimer);
    await this.scheduler.stop();
    this.hotspot.disarm();
    this.services.stop();
    await this.prober.stop();
    await this.mutex;
    await this.webhook?.stop();
    this.ledger?.flush();
    try {
      return o.cleanup ? await this.cleanup() : undefined;
    } finally {
      await this.cache.stop();
      await Promise.all([...this.writeChannels.values()].map((c) => c.close()));
      this.writer?.release();
      this.writer = undefined;
    }
  }

  /**
   * `--cleanup-on-exit`: remove everything of ours whose kind's driver says so (rules, routes, qdisc
   * trees, the nft table), as one transaction. Sysctls stay as they are: their values before backhaul
   * are not known.
   */
  private async cleanup(): Promise<TxResult | undefined> {
    return this.exclusive(async () => {
      const observed = await this.observeKernel();
      const inputs = plannerInputs(this.state.policy, observed, this.o.netns);
      const own = inputs.ownership;
      // The owned state without what each kind's driver says cleanup removes (diff works on owned state).
      const target: KernelState = {
        ...ownedState(observed, own),
        ...Object.fromEntries(CLEANUP_KINDS.map((k) => [k, []])),
      };
      const ops = orderOps(diff(observed, target, own));
      if (ops.length === 0) return undefined;
      return transact(observed, ops, this.state.digest, this.txContext(inputs));
    });
  }

  /** Ask for a pass (coalesced with others). */
  trigger(reason: string): void {
    this.scheduler.trigger(reason);
  }

  /** A policy edit on disk that does not load: the policy in force stays. */
  rejectPolicy(errors: readonly string[]): void {
    this.book = { ...this.book, rejected: { at: new Date().toISOString(), errors } };
    this.changed();
  }

  /** A new valid policy: in force from the next pass on. */
  replacePolicy(policy: EffectivePolicy): boolean {
    if (this.book.rejected !== undefined) {
      const { rejected: _, ...book } = this.book;
      this.book = book;
      this.changed();
    }
    const d = digest(policy);
    if (d === this.state.digest) return false;
    this.loadedAt = Date.now();
    void this.dispatch({ type: "policy", policy, digest: d });
    return true;
  }

  /**
   * A kernel link event: the step decides whether it takes the fast path; every event also asks for a
   * full pass. Decided inside the mutex: a pass that ran meanwhile may have switched away already.
   */
  onLinkChange(change: LinkChange): void {
    this.linksWaiting++;
    void this.exclusive(() => {
      this.linksWaiting--;
      this.clock = { at: Date.now(), t0: performance.now() };
      return this.dispatch({ type: "link", change, usage: this.usage(), battery: onBattery() });
    }).catch((e: unknown) => this.o.log.error({ err: e }, "fast path failed"));
  }

  /**
   * After each full pass (every link event asks for one), once passes have settled (none for
   * PREPARE_AFTER_MS), the carrier-loss plans for the active uplinks are made on what the last one
   * left, so a loss only has to send one; a loss before that plans as it always did. Never ahead of
   * a waiting link event: its fast path comes first.
   */
  private prepareAhead(): void {
    clearTimeout(this.prepareTimer);
    this.prepareTimer = setTimeout(() => {
      void this.exclusive(async () => {
        if (this.linksWaiting > 0 || !this.running) return;
        this.state = prepareFastPlans(this.state, { usage: this.usage(), battery: onBattery() }, Date.now());
        const ready = (this.state.ready ?? []).map((r) => r.change.ifname);
        this.o.log.debug(
          { fastPath: { ready } },
          `carrier-loss plans made ahead for ${ready.join(", ") || "none"}`,
        );
      }).catch((e: unknown) => this.o.log.error({ err: e }, "preparing the fast path failed"));
    }, PREPARE_AFTER_MS);
    this.prepareTimer.unref();
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.mutex.then(fn, fn);
    this.mutex = next.catch(() => undefined);
    return next;
  }

  private usage() {
    return this.ledger?.usage() ?? {};
  }

  private onProbeRound(uplink: string, source: string, round: RoundResult): void {
    if (this.state.tracked.has(uplink) && this.state.probeSources.get(uplink) === source)
      this.ledger?.addProbeBytes(uplink, round.bytes);
    void this.dispatch({ type: "round", uplink, source, round, usage: this.usage() });
  }

  private async fullPass(req: PassRequest): Promise<SchedulerOutcome> {
    return this.exclusive(async () => {
      const at = Date.now();
      const t0 = performance.now();
      this.clock = { at, t0 };
      let r: PassReport | undefined;
      try {
        this.rotateHotspotPassphrase(at);
        // Once per resyncInterval (whatever asked for the pass: probes may ask more often than that),
        // the cache is compared with a fresh read of everything, and the kernel's is kept.
        const observed =
          at - this.resyncedAt >= this.state.policy.daemon.resyncInterval
            ? await this.resync()
            : await this.observeKernel();
        // A link event came while this pass waited or read: its fast path goes first (a carrier loss
        // switches in the time of one write), and this pass runs again after it.
        if (this.linksWaiting > 0) {
          this.clock = undefined;
          for (const reason of req.reasons) this.trigger(reason);
          return { ok: true };
        }
        this.clock = { at, t0, observeMs: performance.now() - t0 };
        this.services.track(observed);
        this.book = { ...this.book, passInFlight: true };
        this.changed();
        const inputs = plannerInputs(this.state.policy, observed, this.o.netns);
        await this.ledger?.sample(meteredUplinks(this.state.policy, inputs));
        r = await this.dispatch({
          type: "observed",
          observed,
          inputs,
          usage: this.usage(),
          battery: onBattery(),
          triggers: req.reasons,
        });
      } catch (e) {
        // A pass that cannot observe, or throws after, is a failed pass: reported, logged, retried with backoff.
        const error = e instanceof Error ? e.message : String(e);
        r = await this.dispatch({ type: "pass-failed", triggers: req.reasons, error });
        return { ok: false, error: new Error(r?.record.error ?? error) };
      }
      this.prepareAhead();
      const outcome = r?.record.outcome;
      return outcome === undefined || outcome === "no-change" || outcome === "applied"
        ? { ok: true }
        : { ok: false, error: new Error(r?.record.error ?? outcome) };
    });
  }

  /** The cache against a fresh read of everything; each disagreement is logged once it is judged. */
  private async resync(): Promise<KernelState> {
    this.resyncedAt = Date.now();
    const r = await this.cache.resync();
    void r.judged.then((missed) => {
      const n = missed.length;
      this.o.log.debug(
        { resync: { mismatches: n } },
        n === 0
          ? "resync: the cache agreed with the kernel"
          : `resync: the cache was wrong on ${n} object(s)`,
      );
    });
    return r.state;
  }

  /** A rotation that fails leaves the passphrase as it is: logged, tried again at the next pass. */
  private rotateHotspotPassphrase(now: number): void {
    try {
      const r = this.hotspot.rotateIfDue(this.state.policy, this.o.netns, now);
      if (r !== undefined)
        this.o.log.info(
          { hotspot: { passphrase: r.to, previous: r.from } },
          `rotated the hotspot's passphrase (${r.from} → ${r.to}); this pass reloads the access point with it`,
        );
    } catch (e) {
      this.o.log.error(
        { err: e },
        `the hotspot's passphrase was not rotated: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
  }

  /**
   * Ask for a full pass and wait for it (`hotspot token` puts a new key in force this way). Rejects
   * when none has run within `timeoutMs`.
   */
  passNow(reason: string, timeoutMs = 30_000): Promise<PassRecord> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.passWaiters.delete(waiter);
        reject(new Error(`no pass ran within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = (r: PassReport): boolean => {
        if (r.record.path !== "full" || !r.record.triggers.includes(reason)) return false;
        clearTimeout(timer);
        resolve(r.record);
        return true;
      };
      this.passWaiters.add(waiter);
      this.trigger(reason);
    });
  }

  private readonly passWaiters = new Set<(r: PassReport) => boolean>();

  /** Run the step on one event and perform its intents; the report of the pass it ended, if any. */
  private async dispatch(e: DaemonEvent): Promise<PassReport | undefined> {
    const r = step(this.state, e, Date.now());
    this.state = r.state;
    let report: PassReport | undefined;
    for (const intent of r.intents) report = (await this.perform(intent)) ?? report;
    return report;
  }

  /**
   * The independent part of a pass's ops, once the rest is applied. Its failure is logged and leaves
   * the rest in place; the next pass, which observes the kernel, plans it again.
   */
  private async transactSide(
    i: Extract<Intent, { type: "transact" }>,
    first: readonly Op[],
    side: readonly Op[],
  ): Promise<void> {
    const after = applyOps(i.observed, first);
    if (!after.ok) return;
    const { fault: _, ...ctx } = this.txContext(i.inputs);
    const tx = await transact(after.state, side, this.state.digest, ctx);
    if (tx.outcome !== "applied")
      this.o.log.error(
        { outcome: tx.outcome, ops: side.map(describeOp) },
        `the hotspot's services were not applied (${tx.outcome}): ${tx.reason}; routing is applied, the next pass tries again`,
      );
  }

  private async perform(i: Intent): Promise<PassReport | undefined> {
    switch (i.type) {
      case "transact": {
        if (!this.book.passInFlight) {
          this.book = { ...this.book, passInFlight: true };
          this.changed();
        }
        this.services.beforeTransact(i.ops);
        const clock = this.clock;
        const planned = performance.now();
        // The hotspot's services go in a transaction of their own after the rest: a server that cannot
        // start (its port taken) is rolled back alone and never holds back routing.
        const { main, side } = splitIndependent(i.ops);
        const [first, second] = main.length === 0 || side.length === 0 ? [i.ops, []] : [main, side];
        let tx: TxResult;
        try {
          tx = await transact(i.observed, first, this.state.digest, {
            ...this.txContext(i.inputs),
            onExecuted: () => {
              if (clock !== undefined) clock.writtenAt = performance.now();
            },
          });
          if (tx.outcome === "applied" && second.length > 0) await this.transactSide(i, first, second);
        } catch (e) {
          const error = e instanceof Error ? e.message : String(e);
          return this.dispatch({ type: "transacted", outcome: "failed", error });
        }
        const written = clock?.writtenAt ?? planned;
        this.o.log.debug(
          {
            planMs: planned - (clock?.t0 ?? planned),
            executeMs: written - planned,
            verifyMs: performance.now() - written,
          },
          "pass timings",
        );
        const error =
          tx.outcome === "applied"
            ? undefined
            : tx.outcome === "rolled-back"
              ? `rolled back: ${tx.reason}`
              : `rollback failed: ${tx.reason}; ${tx.rollback}`;
        return this.dispatch({
          type: "transacted",
          outcome: tx.outcome,
          ...(error === undefined ? {} : { error }),
        });
      }
      case "probe":
        this.prober.configure(this.proberSettings(), i.assignments);
        return undefined;
      case "trigger":
        this.trigger(i.reason);
        return undefined;
      case "log":
        this.o.log[i.level](i.fields, i.message);
        return undefined;
      case "changed":
        this.changed();
        return undefined;
      case "drift":
        this.postDrift(i.items);
        return undefined;
      case "pass":
        return this.passEnded(i.result);
    }
  }

  /** New drift goes to the policy's webhook, if it names one; a changed URL gets a new sender. */
  private postDrift(items: readonly DriftItem[]): void {
    const url = this.state.policy.daemon.drift.webhook;
    if (url === undefined) return;
    if (this.webhook?.url !== url) {
      void this.webhook?.stop();
      // The log names the receiver's origin only: the path or query may hold a token.
      const origin = new URL(url).origin;
      this.webhook = new Webhook(url, {
        onGiveUp: (why) => this.o.log.error({ webhook: origin }, `drift webhook ${origin} gave up: ${why}`),
      });
    }
    this.webhook.post(
      driftReport(items, { policyFile: this.o.policyPath, netns: this.o.netns, healthSource: "daemon" }),
    );
  }

  private passEnded(result: PassResult): PassReport {
    const clock = this.clock ?? { at: Date.now(), t0: performance.now() };
    this.clock = undefined;
    const record: PassRecord = {
      startedAt: new Date(clock.at).toISOString(),
      durationMs: round2(performance.now() - clock.t0),
      ...(clock.observeMs === undefined ? {} : { observeMs: round2(clock.observeMs) }),
      triggers: result.triggers,
      path: result.path,
      outcome: result.outcome,
      ops: result.ops.length,
      ...(clock.writtenAt === undefined ? {} : { writtenAfterMs: round2(clock.writtenAt - clock.t0) }),
      ...(result.error === undefined ? {} : { error: result.error }),
      ...(result.healed === undefined ? {} : { healed: result.healed }),
      ...(result.prepared === undefined ? {} : { prepared: result.prepared }),
      ...(result.switched === undefined ? {} : { switched: result.switched }),
    };
    const report: PassReport = {
      record,
      ...(result.selection === undefined ? {} : { selection: result.selection }),
      ops: result.outcome === "failed" ? [] : result.ops,
    };
    this.book = bookPass(this.book, report, new Date());
    this.logPass(report);
    for (const w of [...this.passWaiters]) if (w(report)) this.passWaiters.delete(w);
    if (report.record.path === "full") {
      const now = Date.now();
      const due = this.hotspot.nextDue(this.state.policy, this.o.netns, now, hotspotDue(this.state));
      this.hotspot.arm(due, now);
    }
    for (const l of this.listeners) l(report);
    this.changed();
    return report;
  }

  /** What `backhaul status` shows and metrics export; conditions keep their transition times. */
  snapshot(now = new Date()): DaemonStatus {
    const services = this.services.status();
    const hotspot = hotspotStatus(
      this.state.policy.hotspot,
      this.state.hotspot?.activation,
      services,
      this.passphraseFacts(),
      now.getTime(),
    );
    const r = statusOf(this.book, this.state, {
      now,
      policyPath: this.o.policyPath,
      netns: this.o.netns,
      loadedAt: this.loadedAt,
      usage: this.ledger?.status() ?? {},
      ...(hotspot === undefined ? {} : { hotspot }),
    });
    this.book = r.book;
    return services.length === 0 ? r.status : { ...r.status, services };
  }

  /** The hotspot passphrase's fingerprint and when it was set, read from its file (never shown). */
  private passphraseFacts(): PassphraseFacts {
    const h = this.state.policy.hotspot;
    if (h === undefined || h.security === "open") return {};
    const path = hotspotFiles(this.state.policy, this.o.netns)!.passphrase;
    const fingerprint = passphraseFingerprint(path);
    const since = passphraseSince(path);
    return {
      ...(fingerprint === undefined ? {} : { fingerprint }),
      ...(since === undefined ? {} : { since }),
    };
  }

  private settings:
    | {
        digest: string;
        value: { targets: EffectivePolicy["probes"]["targets"]; timeoutMs: number; jitterMs: number };
      }
    | undefined;

  /** The same object while the policy's probe settings are unchanged, so loops keep their rhythm. */
  private proberSettings() {
    const p = this.state.policy.probes;
    const value = { targets: p.targets, timeoutMs: p.timeout, jitterMs: p.jitter };
    const d = digest(value);
    if (this.settings?.digest !== d) this.settings = { digest: d, value };
    return this.settings.value;
  }

  private logPass(r: PassReport): void {
    const rec = r.record;
    const fields = { pass: { ...rec, switched: undefined }, triggers: rec.triggers };
    if (rec.switched !== undefined)
      this.o.log.info(
        { ...fields, switch: rec.switched, ops: r.ops.map(describeOp) },
        `switch ${rec.switched.from.join("+") || "none"} → ${rec.switched.to.join("+") || "none"} (${rec.switched.cause}, ${rec.path} path, ${rec.durationMs} ms): ${rec.switched.reason}`,
      );
    if (rec.outcome === "failed" || rec.outcome === "rolled-back" || rec.outcome === "rollback-failed")
      this.o.log.error(fields, `pass ${rec.outcome}: ${rec.error ?? ""}`);
    else if (rec.outcome === "applied" && rec.switched === undefined)
      this.o.log.info({ ...fields, ops: r.ops.map(describeOp) }, `applied ${rec.ops} op(s)`);
    else this.o.log.debug({ ...fields, selection: r.selection?.reason }, "pass: no change");
  }
}
