// `backhaul run`: the reconciler as a daemon. Level-triggered: every trigger (a kernel event, a health
// transition, a policy change, the periodic safety net) asks for the same full pass
//   observe → health → desired → plan (invariants on the model kernel) → transact (journal, execute,
//   verify, roll back)
// and the scheduler coalesces triggers and backs off after failures. A carrier loss on the active
// uplink takes the fast path (fast-path.ts) first. One pass at a time: passes and the fast path share
// one mutex, and the daemon holds the namespace's writer lock for its whole life.
import { performance } from "node:perf_hooks";
import type { Logger } from "pino";
import { FAULT_ENV, faultFromEnv } from "../effects/apply/fault-env.js";
import { recover, transact, type TxContext, type TxResult } from "../effects/apply/transaction.js";
import { CLEANUP_KINDS, describeOp, ownedState } from "../kinds/registry.js";
import type { KernelState, Op } from "../kinds/types.js";
import { applyOps } from "../core/model-kernel/index.js";
import { diff } from "../core/plan/diff.js";
import { orderOps } from "../core/plan/order.js";
import { observe } from "../effects/observe.js";
import { plannerInputs, type PlannerInputs } from "../core/plan/inputs.js";
import { desiredInputOf, planChecked } from "../core/reconcile.js";
import { layoutFor, type DesiredInput, type Layout } from "../core/plan/desired.js";
import type { PlanPass } from "../core/reconcile.js";
import { loadPolicy } from "../policy/load.js";
import type { EffectivePolicy } from "../policy/types.js";
import { indexObserved } from "../core/selection/gateway.js";
import { assumedHealth } from "../core/selection/assume.js";
import { select, toPrevious } from "../core/selection/select.js";
import type { Health, PreviousSelection, Selection } from "../core/selection/types.js";
import { journalPath } from "../effects/state/journal.js";
import { acquireLock, lockPath, type HeldLock } from "../effects/state/lock.js";
import { digest } from "../util/canonical.js";
import { keepWarm, stopWarm } from "../effects/exec.js";
import { batchArgv } from "../kinds/ip/batch.js";
import { formatOneLine } from "../policy/diagnostic-line.js";
import { linkLost, patchLink, type LinkChange } from "../core/decide/fast-path.js";
import { onBattery } from "./power.js";
import { Prober, type Assignment } from "./prober.js";
import { Scheduler, type PassOutcome as SchedulerOutcome, type PassRequest } from "./scheduler.js";
import { deriveConditions, passSucceeded } from "./conditions.js";
import { UsageLedger, usageLedgerPath, type MeteredUplink } from "./ledger.js";
import {
  STATUS_FORMAT,
  type Condition,
  type DaemonStatus,
  type PassOutcome,
  type PassRecord,
  type SwitchCause,
  type UplinkStatus,
} from "./status-model.js";
import { limitReason, sameActive, switchCause, voluntary, withinWindow } from "../core/decide/switching.js";
import {
  healthConfig,
  healthOf,
  onPhysical,
  onRound,
  physicalOf,
  track,
  transitioned,
  type Tracked,
} from "../core/health/uplink.js";
import type { RoundResult } from "../effects/probe/round.js";

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

/** What one pass decided and did, for status, metrics and logs. */
export interface PassReport {
  readonly record: PassRecord;
  readonly selection?: Selection;
  readonly ops: readonly Op[];
}

/** Errors of a policy file, one line each with file:line:col. */
export async function loadOrErrors(
  path: string,
): Promise<{ ok: true; policy: EffectivePolicy } | { ok: false; errors: string[] }> {
  const r = await loadPolicy(path);
  if (r.ok) return { ok: true, policy: r.policy };
  return { ok: false, errors: r.diagnostics.filter((d) => d.severity === "error").map(formatOneLine) };
}

/** The active set the kernel holds now, as selection's hysteresis input (after a restart). */
export function previousFromKernel(
  observed: KernelState,
  inputs: PlannerInputs,
  layout: Layout,
): PreviousSelection | undefined {
  const route = observed.route.find(
    (r) =>
      r.table === layout.activeTable &&
      r.family === 4 &&
      r.dst === "0.0.0.0/0" &&
      r.protocol === inputs.routing.protocol,
  );
  if (route === undefined) return undefined;
  const byIface = new Map(inputs.uplinks.map((u) => [u.iface, u.name]));
  const hops =
    route.nexthops?.map((h) => ({ dev: h.dev, weight: h.weight ?? 1 })) ??
    (route.dev === undefined ? [] : [{ dev: route.dev, weight: 1 }]);
  const active = hops.flatMap((h) => {
    const name = byIface.get(h.dev);
    return name === undefined ? [] : [{ name, weight: h.weight, score: 0 }];
  });
  return active.length === 0 ? undefined : { active, usable: active.map((a) => a.name) };
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

const PASS_HISTORY = 10;

const round2 = (ms: number): number => Math.round(ms * 100) / 100;

export class Daemon {
  private inForce: PolicyInForce;
  private tracked = new Map<string, Tracked>();
  private selection: Selection | undefined;
  /** The active set the kernel held at start: hysteresis input until the first selection. */
  private kernelPrevious: PreviousSelection | undefined;
  private lastObserved: KernelState | undefined;
  private lastInputs: PlannerInputs | undefined;
  private policyChanged = false;
  private switchTimes: number[] = [];
  private readonly passes: PassRecord[] = [];
  private mutex: Promise<unknown> = Promise.resolve();
  private readonly scheduler: Scheduler;
  private readonly prober: Prober;
  private lock: HeldLock | undefined;
  private readonly listeners: ((r: PassReport) => void)[] = [];
  private readonly changeListeners: (() => void)[] = [];
  private ledger: UsageLedger | undefined;
  private readonly startedAtMs = Date.now();
  /** The uplinks the kernel routed general traffic through when the daemon started. */
  private carriedAtStart: ReadonlySet<string> = new Set();
  private readonly startedAt = new Date(this.startedAtMs).toISOString();
  private passInFlight = false;
  private consecutiveFailures = 0;
  private converged = false;
  private conditions: readonly Condition[] = [];
  private rejected: { at: string; errors: readonly string[] } | undefined;
  private lastPlan: { at: string; ops: readonly string[] } | undefined;
  private lastError: { at: string; message: string } | undefined;
  private lastSuccessAt: string | undefined;
  private readonly switchCounts: Partial<Record<SwitchCause, number>> = {};
  /** Owned objects changed behind the daemon's back, found by the last full pass. */
  private driftObjects = 0;
  /** The executor's test hook (BACKHAUL_FAULT), on every transaction as `apply` has it. */
  private readonly fault = faultFromEnv(process.env[FAULT_ENV], (line) => this.o.log.warn(line));

  constructor(
    private readonly o: DaemonOptions,
    policy: EffectivePolicy,
  ) {
    this.inForce = { policy, digest: digest(policy), loadedAt: Date.now() };
    this.prober = new Prober((name, source, round) => this.onProbeRound(name, source, round));
    this.scheduler = new Scheduler((req) => this.fullPass(req), {
      periodMs: Math.min(policy.daemon.resyncInterval, o.periodCapMs ?? Infinity),
      periodJitter: 0.2,
      backoffInitialMs: 50,
      backoffMaxMs: 30_000,
    });
  }

  get policy(): PolicyInForce {
    return this.inForce;
  }

  get lastSelection(): Selection | undefined {
    return this.selection;
  }

  /** What the next selection's hysteresis starts from. */
  private get previous(): PreviousSelection | undefined {
    return this.selection === undefined ? this.kernelPrevious : toPrevious(this.selection);
  }

  get health(): ReadonlyMap<string, Tracked> {
    return this.tracked;
  }

  get history(): readonly PassRecord[] {
    return this.passes;
  }

  /** Called after every pass (full or fast), in order. */
  onPass(listener: (r: PassReport) => void): void {
    this.listeners.push(listener);
  }

  /** Called whenever the status may have changed (a pass began or ended, health moved, a policy edit). */
  onChange(listener: () => void): void {
    this.changeListeners.push(listener);
  }

  private changed(): void {
    for (const l of this.changeListeners) l();
  }

  get drift(): number {
    return this.driftObjects;
  }

  private get stateDir(): string {
    return this.inForce.policy.daemon.stateDir;
  }

  private txContext(inputs: PlannerInputs): TxContext {
    return {
      ownership: inputs.ownership,
      nftTable: { family: "inet", name: this.inForce.policy.routing.nftTable },
      stateDir: this.stateDir,
      journalPath: journalPath(this.stateDir, this.o.netns),
      netnsName: this.o.netns,
      ...(this.fault === undefined ? {} : { fault: this.fault }),
    };
  }

  /**
   * Take the writer lock, finish what a crashed apply or daemon left (the journal), and start the loop.
   * Throws when another writer holds the lock or recovery fails: the daemon must not run then.
   */
  async start(): Promise<void> {
    this.lock = acquireLock(lockPath(this.stateDir, this.o.netns), "run");
    if (this.lock.tookOverFrom !== undefined)
      this.o.log.warn({ stale: this.lock.tookOverFrom }, "took over the lock of a process that is gone");
    const observed = await observe({
      stateDir: this.stateDir,
      nftTable: { family: "inet", name: this.inForce.policy.routing.nftTable },
    });
    const inputs = plannerInputs(this.inForce.policy, observed);
    const r = await recover(this.txContext(inputs));
    if (r.found) {
      if (!r.restored.ok) {
        this.lock.release();
        throw new Error(
          `an unfinished apply (journal ${r.journal.id}, ${r.journal.executed}/${r.journal.ops.length} ops) ` +
            `could not be rolled back: ${r.restored.reason}`,
        );
      }
      this.o.log.warn(
        {
          outcome: r.outcome,
          journal: r.journal.id,
          createdAt: r.journal.createdAt,
          executed: r.journal.executed,
          ops: r.journal.ops.length,
          restoreOps: r.restored.ops,
        },
        r.outcome === "completed"
          ? "found an apply that had finished all its ops: closed its journal"
          : "recovered an unfinished apply: restored the state before it",
      );
    }
    this.kernelPrevious = previousFromKernel(observed, inputs, layoutFor(inputs.uplinks, inputs.routing));
    this.carriedAtStart = new Set((this.kernelPrevious?.active ?? []).map((a) => a.name));
    const opened = await UsageLedger.open({ path: usageLedgerPath(this.stateDir, this.o.netns) });
    if (opened.corrupt !== undefined)
      this.o.log.error(
        { err: opened.corrupt },
        `the usage ledger was damaged and has been kept aside; counting starts again: ${opened.corrupt.message}`,
      );
    this.ledger = opened.ledger;
    // The fast path's batch (IPv4 routes and rules) finds its `ip` already started.
    keepWarm(batchArgv({ family: 4 }));
    this.scheduler.start();
  }

  /**
   * Finish the pass in flight and stop. The kernel stays as it is, unless `cleanup` asks to remove
   * what is ours (still under the lock).
   */
  async stop(o: { readonly cleanup?: boolean } = {}): Promise<TxResult | undefined> {
    await this.scheduler.stop();
    await this.prober.stop();
    await this.mutex;
    await stopWarm();
    this.ledger?.flush();
    try {
      return o.cleanup ? await this.cleanup() : undefined;
    } finally {
      this.lock?.release();
      this.lock = undefined;
    }
  }

  /**
   * `--cleanup-on-exit`: remove everything of ours whose kind's driver says so (rules, routes, qdisc
   * trees, the nft table), as one transaction. Sysctls stay as they are: their values before backhaul
   * are not known.
   */
  private async cleanup(): Promise<TxResult | undefined> {
    return this.exclusive(async () => {
      const observed = await observe({
        stateDir: this.stateDir,
        nftTable: { family: "inet", name: this.inForce.policy.routing.nftTable },
      });
      const inputs = plannerInputs(this.inForce.policy, observed);
      const own = inputs.ownership;
      // The owned state without what each kind's driver says cleanup removes (diff works on owned state).
      const target: KernelState = {
        ...ownedState(observed, own),
        ...Object.fromEntries(CLEANUP_KINDS.map((k) => [k, []])),
      };
      const ops = orderOps(diff(observed, target, own));
      if (ops.length === 0) return undefined;
      return transact(observed, ops, this.inForce.digest, this.txContext(inputs));
    });
  }

  /** Ask for a pass (coalesced with others). */
  trigger(reason: string): void {
    this.scheduler.trigger(reason);
  }

  /** A policy edit on disk that does not load: the policy in force stays. */
  rejectPolicy(errors: readonly string[]): void {
    this.rejected = { at: new Date().toISOString(), errors };
    this.changed();
  }

  /** A new valid policy: in force from the next pass on. */
  replacePolicy(policy: EffectivePolicy): boolean {
    const wasRejected = this.rejected !== undefined;
    this.rejected = undefined;
    if (wasRejected) this.changed();
    const d = digest(policy);
    if (d === this.inForce.digest) return false;
    this.inForce = { policy, digest: d, loadedAt: Date.now() };
    this.policyChanged = true;
    this.trigger("policy");
    return true;
  }

  /**
   * A kernel link event. Losing the link of an active uplink runs the fast path at once; every event
   * also asks for a full pass.
   */
  onLinkChange(change: LinkChange): void {
    const active = this.activeIfaces();
    if (linkLost(change) && active.has(change.ifname)) {
      // Decided inside the mutex: a pass that ran meanwhile may have switched away already.
      void this.exclusive(async () => {
        const last = this.lastObserved;
        if (last === undefined || !this.activeIfaces().has(change.ifname)) return;
        await this.decideAndApply(patchLink(last, change), [`link ${change.ifname} lost`], "fast");
      }).catch((e: unknown) => this.o.log.error({ err: e }, "fast path failed"));
    }
    this.trigger(`link ${change.ifname}`);
  }

  private activeIfaces(): Set<string> {
    const names = new Set(
      this.selection?.active.map((a) => a.name) ?? this.previous?.active.map((a) => a.name) ?? [],
    );
    return new Set((this.lastInputs?.uplinks ?? []).filter((u) => names.has(u.name)).map((u) => u.iface));
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.mutex.then(fn, fn);
    this.mutex = next.catch(() => undefined);
    return next;
  }

  private onProbeRound(name: string, source: string, round: RoundResult): void {
    const t = this.tracked.get(name);
    // A round of an uplink no longer in the policy, or from an address it no longer has, says nothing.
    if (t === undefined || this.prober.sources().get(name) !== source) return;
    const next = onRound(t, round, Date.now(), healthConfig(this.inForce.policy.probes));
    this.tracked.set(name, next);
    this.ledger?.addProbeBytes(name, round.bytes);
    if (transitioned(t, next)) {
      this.o.log.info(
        { uplink: name, from: t.machine.state, to: next.machine.state, reason: next.machine.reason },
        `uplink ${name} ${t.machine.state} → ${next.machine.state}: ${next.machine.reason}`,
      );
      this.trigger(`health ${name} ${t.machine.state}→${next.machine.state}`);
      this.changed();
    } else if (this.decisionMoved()) this.trigger(`probes ${name}`);
  }

  private healthNow(now = Date.now()): Record<string, Health> {
    const p = this.inForce.policy.probes;
    // Right after a restart the uplink the kernel already routes through keeps traffic until its own
    // probes have had a fair chance (the Probing hold-down and two rounds): otherwise whichever uplink
    // is verified first would take over, and traffic would move away and back for nothing. Failing
    // probes or a physical loss end the grace at once (the uplink leaves Probing).
    const graceEnds = this.startedAtMs + p.holdDown.probingToUp + 2 * (p.interval + p.timeout);
    const carried = this.carriedAtStart;
    return Object.fromEntries(
      [...this.tracked].map(([n, t]): [string, Health] => {
        const h = healthOf(t);
        if (carried.has(n) && now < graceEnds && t.machine.state === "probing" && t.physical.ok)
          return [
            n,
            {
              ...assumedHealth("up", t.machine.since),
              reason: "carried traffic before the restart; its probes are not in yet",
            },
          ];
        return [n, h];
      }),
    );
  }

  /**
   * Would selection decide differently now? A round can move a score across the switch margin or a
   * threshold without changing the uplink's state; the check is pure and cheap, a pass is not.
   */
  private decisionMoved(): boolean {
    const observed = this.lastObserved;
    const inputs = this.lastInputs;
    const current = this.selection;
    if (observed === undefined || inputs === undefined || current === undefined) return false;
    const now = select(
      desiredInputOf(inputs, observed, this.healthNow(), this.ledger?.usage() ?? {}, this.previous),
    );
    const usable = (x: Selection) =>
      x.verdicts
        .filter((v) => v.usable)
        .map((v) => v.name)
        .join(",");
    return !sameActive(current, now) || usable(current) !== usable(now);
  }

  private async fullPass(req: PassRequest): Promise<SchedulerOutcome> {
    return this.exclusive(async () => {
      const started = { at: Date.now(), t0: performance.now() };
      const observed = await observe({
        stateDir: this.stateDir,
        nftTable: { family: "inet", name: this.inForce.policy.routing.nftTable },
      });
      const inputs = plannerInputs(this.inForce.policy, observed);
      // Drift: owned objects that differ from what the daemon left (someone changed them meanwhile).
      if (this.lastObserved !== undefined && !this.policyChanged)
        this.driftObjects = diff(
          ownedState(observed, inputs.ownership),
          ownedState(this.lastObserved, inputs.ownership),
          inputs.ownership,
        ).length;
      await this.ledger?.sample(meteredUplinks(this.inForce.policy, inputs));
      const r = await this.decideAndApply(observed, req.reasons, "full", {
        ...started,
        observeMs: performance.now() - started.t0,
        inputs,
      });
      const ok = r.record.outcome === "no-change" || r.record.outcome === "applied";
      return ok ? { ok: true } : { ok: false, error: new Error(r.record.error ?? r.record.outcome) };
    });
  }

  /** Health, desired state, plan and transaction on one observation. */
  private async decideAndApply(
    observed: KernelState,
    triggers: readonly string[],
    path: "full" | "fast",
    /** When the pass began (a full pass observes first: its time counts, and is also given alone). */
    started: { at: number; t0: number; observeMs?: number; inputs?: PlannerInputs } = {
      at: Date.now(),
      t0: performance.now(),
    },
  ): Promise<PassReport> {
    const startedAt = started.at;
    const t0 = started.t0;
    this.passInFlight = true;
    this.changed();
    const { policy, digest: policyDigest } = this.inForce;
    const policyChanged = this.policyChanged;
    let report: PassReport;
    const record = (
      r: Omit<PassRecord, "startedAt" | "durationMs" | "observeMs" | "triggers" | "path">,
    ): PassRecord => ({
      startedAt: new Date(startedAt).toISOString(),
      durationMs: round2(performance.now() - t0),
      ...(started.observeMs === undefined ? {} : { observeMs: round2(started.observeMs) }),
      triggers,
      path,
      ...r,
    });
    try {
      const inputs = started.inputs ?? plannerInputs(policy, observed);
      const ix = indexObserved(observed);
      const cfg = healthConfig(policy.probes);
      const tracked = new Map<string, Tracked>();
      for (const u of inputs.uplinks) {
        const before = this.tracked.get(u.name) ?? track(startedAt);
        const after = onPhysical(before, physicalOf(u, ix), startedAt, cfg);
        if (transitioned(before, after))
          this.o.log.info(
            {
              uplink: u.name,
              from: before.machine.state,
              to: after.machine.state,
              reason: after.machine.reason,
            },
            `uplink ${u.name} ${before.machine.state} → ${after.machine.state}: ${after.machine.reason}`,
          );
        tracked.set(u.name, after);
      }
      this.tracked = tracked;
      this.lastInputs = inputs;
      const health = this.healthNow();
      const base = desiredInputOf(inputs, observed, health, this.ledger?.usage() ?? {}, this.previous);
      const planWith = (desired: DesiredInput): PlanPass => planChecked(desired, inputs, policyDigest);
      let pass = planWith(base);
      const prevSel = this.selection;
      if (
        pass.ok &&
        !policyChanged &&
        !sameActive(prevSel, pass.desired.selection) &&
        voluntary(prevSel, pass.desired.selection)
      ) {
        const limit = {
          switches: policy.selection.rateLimit.switches,
          windowMs: policy.selection.rateLimit.window,
        };
        const held = limitReason(this.switchTimes, startedAt, limit);
        if (held !== undefined) pass = planWith({ ...base, holdActive: held });
      }
      if (!pass.ok) {
        const e = pass.error;
        throw new Error(`planning failed: ${e.message}`);
      }
      const selection = pass.desired.selection;
      let outcome: PassOutcome = "no-change";
      let tx: TxResult | undefined;
      let writtenAt: number | undefined;
      if (pass.ops.length > 0) {
        const planned = performance.now();
        tx = await transact(observed, pass.ops, policyDigest, {
          ...this.txContext(inputs),
          onExecuted: () => (writtenAt = performance.now()),
        });
        this.o.log.debug(
          {
            planMs: planned - t0,
            executeMs: (writtenAt ?? 0) - planned,
            verifyMs: performance.now() - (writtenAt ?? 0),
          },
          "pass timings",
        );
        outcome = tx.outcome;
      }
      const took = outcome === "no-change" || outcome === "applied";
      // The fast path's starting point: what the kernel holds now. After a verified apply that is the
      // model's result of the ops; after a rollback nobody knows until the next observation.
      const result = tx === undefined ? { ok: true as const, state: observed } : applyOps(observed, pass.ops);
      this.lastObserved = took && result.ok ? result.state : undefined;
      // A switch is a change of what the kernel routes general traffic through (keep-last with nothing
      // usable keeps the route: no switch, but said once below).
      let switched: PassRecord["switched"];
      if (took && result.ok) {
        const layout = pass.desired.layout;
        const names = (st: KernelState) =>
          (previousFromKernel(st, inputs, layout)?.active ?? []).map((a) => a.name).sort();
        const from = names(observed);
        const to = names(result.state);
        if (from.join(",") !== to.join(",")) {
          const physicallyLost = new Set([...tracked].filter(([, t]) => !t.physical.ok).map(([n]) => n));
          const cause: SwitchCause = switchCause(from, to, selection, prevSel, {
            policyChanged,
            physicallyLost,
          });
          switched = { from, to, cause, reason: selection.reason };
          // The first choice after start is not churn.
          const window = { switches: 0, windowMs: policy.selection.rateLimit.window };
          if (cause !== "start")
            this.switchTimes = [...withinWindow(this.switchTimes, startedAt, window), startedAt];
        }
        if (selection.noneUsable !== undefined && prevSel?.noneUsable === undefined)
          this.o.log.warn({ selection: selection.reason }, selection.reason);
      }
      if (took) {
        this.selection = selection;
        if (policyChanged && this.inForce.digest === policyDigest) this.policyChanged = false;
      }
      this.configureProber(inputs, selection);
      const error =
        tx === undefined || tx.outcome === "applied"
          ? undefined
          : tx.outcome === "rolled-back"
            ? `rolled back: ${tx.reason}`
            : `rollback failed: ${tx.reason}; ${tx.rollback}`;
      report = {
        record: record({
          outcome,
          ops: pass.ops.length,
          ...(writtenAt === undefined ? {} : { writtenAfterMs: round2(writtenAt - t0) }),
          ...(error === undefined ? {} : { error }),
          ...(switched === undefined ? {} : { switched }),
        }),
        selection,
        ops: pass.ops,
      };
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e);
      report = { record: record({ outcome: "failed", ops: 0, error }), ops: [] };
    }
    if (report.record.outcome === "failed") this.lastObserved = undefined;
    this.afterPass(report);
    this.logPass(report);
    this.passes.push(report.record);
    if (this.passes.length > PASS_HISTORY) this.passes.splice(0, this.passes.length - PASS_HISTORY);
    for (const l of this.listeners) l(report);
    this.changed();
    return report;
  }

  private afterPass(r: PassReport): void {
    const rec = r.record;
    this.passInFlight = false;
    const ok = passSucceeded(rec);
    this.consecutiveFailures = ok ? 0 : this.consecutiveFailures + 1;
    this.converged = ok;
    if (ok) this.lastSuccessAt = new Date().toISOString();
    else this.lastError = { at: rec.startedAt, message: rec.error ?? rec.outcome };
    if (rec.ops > 0) this.lastPlan = { at: rec.startedAt, ops: r.ops.map(describeOp) };
    if (rec.switched !== undefined)
      this.switchCounts[rec.switched.cause] = (this.switchCounts[rec.switched.cause] ?? 0) + 1;
  }

  /** What `backhaul status` shows and metrics export; conditions keep their transition times. */
  snapshot(now = new Date()): DaemonStatus {
    const sel = this.selection;
    const lastPass = this.passes.at(-1);
    this.conditions = deriveConditions(
      this.conditions,
      {
        passInFlight: this.passInFlight,
        ...(lastPass === undefined ? {} : { lastPass }),
        consecutiveFailures: this.consecutiveFailures,
        ...(this.rejected === undefined ? {} : { policyRejected: { errors: this.rejected.errors } }),
        converged: this.converged,
        anyUsableUplink: sel?.verdicts.some((v) => v.usable) ?? false,
      },
      now,
    );
    const usage = this.ledger?.status() ?? {};
    const active = new Set(sel?.active.map((a) => a.name) ?? []);
    const uplinks = (this.lastInputs?.uplinks ?? []).map((u): UplinkStatus => {
      const t = this.tracked.get(u.name);
      const v = sel?.verdicts.find((x) => x.name === u.name);
      const h = t === undefined ? undefined : healthOf(t);
      const use = usage[u.name];
      return {
        name: u.name,
        iface: u.iface,
        state: t?.machine.state ?? "probing",
        since: new Date(t?.machine.since ?? now.getTime()).toISOString(),
        reason: v?.reason ?? t?.machine.reason ?? "not observed yet",
        active: active.has(u.name),
        usable: v?.usable ?? false,
        ...(v?.score === undefined ? {} : { score: v.score.total }),
        ...(h?.rttMs === undefined ? {} : { rttMs: Math.round(h.rttMs * 100) / 100 }),
        ...(h?.lossPct === undefined ? {} : { lossPct: h.lossPct }),
        ...(use === undefined ? {} : { usage: use }),
      };
    });
    const byCause = { ...this.switchCounts };
    return {
      formatVersion: STATUS_FORMAT,
      pid: process.pid,
      startedAt: this.startedAt,
      netns: this.o.netns ?? null,
      policy: {
        path: this.o.policyPath,
        digest: this.inForce.digest,
        loadedAt: new Date(this.inForce.loadedAt).toISOString(),
        ...(this.rejected === undefined ? {} : { rejected: this.rejected }),
      },
      active: { uplinks: [...active], reason: sel?.reason ?? "no pass has finished yet" },
      uplinks,
      conditions: this.conditions,
      ...(this.lastPlan === undefined ? {} : { lastPlan: this.lastPlan }),
      ...(this.lastError === undefined ? {} : { lastError: this.lastError }),
      passes: [...this.passes],
      switches: { total: Object.values(byCause).reduce((a, b) => a + b, 0), byCause },
      ...(this.lastSuccessAt === undefined ? {} : { lastSuccessfulPassAt: this.lastSuccessAt }),
    };
  }

  private configureProber(inputs: PlannerInputs, selection: Selection): void {
    const p = this.inForce.policy.probes;
    const battery = onBattery();
    const assignments: Assignment[] = [];
    for (const v of selection.verdicts) {
      const a = v.attachments.find((x) => x.family === 4);
      const spec = inputs.uplinks.find((u) => u.name === v.name);
      if (a === undefined || spec === undefined) continue;
      const factor = (spec.metered ? p.meteredFactor : 1) * (battery ? p.batteryFactor : 1);
      assignments.push({ name: v.name, source: a.address.split("/")[0]!, intervalMs: p.interval * factor });
    }
    this.prober.configure(this.proberSettings(), assignments);
  }

  private settings:
    | {
        digest: string;
        value: { targets: EffectivePolicy["probes"]["targets"]; timeoutMs: number; jitterMs: number };
      }
    | undefined;

  /** The same object while the policy's probe settings are unchanged, so loops keep their rhythm. */
  private proberSettings() {
    const p = this.inForce.policy.probes;
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
