// `backhaul run`: the reconciler as a daemon. Level-triggered: every trigger (a kernel event, a health
// transition, a policy change, the periodic safety net) asks for the same full pass
//   observe → health → desired → plan (invariants on the model kernel) → transact (journal, execute,
//   verify, roll back)
// and the scheduler coalesces triggers and backs off after failures. A carrier loss on the active
// uplink takes the fast path (fast-path.ts) first. One pass at a time: passes and the fast path share
// one mutex, and the daemon holds the namespace's writer lock for its whole life.
import { performance } from "node:perf_hooks";
import type { Logger } from "pino";
import { recover, transact, type TxContext, type TxResult } from "../apply/transaction.js";
import { describeOp } from "../plan/describe.js";
import type { KernelState, Op } from "../model/types.js";
import { applyOps } from "../kernel-model/index.js";
import { isOwned } from "../model/kinds.js";
import { diff } from "../plan/diff.js";
import { orderOps } from "../plan/order.js";
import { observe } from "../observe/index.js";
import { plannerInputs, type PlannerInputs } from "../pipeline/inputs.js";
import { invariantContext, modelCheck, routeFor } from "../pipeline/plan-node.js";
import { layoutFor, type DesiredInput, type Layout } from "../plan/desired.js";
import { planPass, type PlanPass } from "../plan/pipeline.js";
import { loadPolicy } from "../policy/load.js";
import type { EffectivePolicy } from "../policy/types.js";
import { indexObserved } from "../selection/gateway.js";
import { toPrevious } from "../selection/select.js";
import type { PreviousSelection, Selection } from "../selection/types.js";
import { journalPath } from "../state/journal.js";
import { acquireLock, lockPath, type HeldLock } from "../state/lock.js";
import { digest } from "../util/canonical.js";
import { formatOneLine } from "../cli/diagnostics.js";
import { linkLost, patchLink, type LinkChange } from "./fast-path.js";
import { onBattery } from "./power.js";
import { Prober, type Assignment } from "./prober.js";
import { Scheduler, type PassOutcome as SchedulerOutcome, type PassRequest } from "./scheduler.js";
import type { PassOutcome, PassRecord, SwitchCause } from "./status-model.js";
import { limitReason, sameActive, switchCause, voluntary, withinWindow } from "./switching.js";
import {
  healthConfig,
  healthOf,
  onPhysical,
  onRound,
  physicalOf,
  track,
  transitioned,
  type Tracked,
} from "./uplink-health.js";
import type { RoundResult } from "../probe/round.js";

export interface DaemonOptions {
  readonly policyPath: string;
  /** The namespace the daemon runs in and manages (names its state files); undefined: the host. */
  readonly netns: string | undefined;
  readonly log: Logger;
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

export class PolicyLoadError extends Error {
  override name = "PolicyLoadError";
  constructor(readonly errors: readonly string[]) {
    super(`the policy is not valid:\n  ${errors.join("\n  ")}`);
  }
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

const PASS_HISTORY = 10;

const round2 = (ms: number): number => Math.round(ms * 100) / 100;

export class Daemon {
  private inForce: PolicyInForce;
  private tracked = new Map<string, Tracked>();
  private selection: Selection | undefined;
  private previous: PreviousSelection | undefined;
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

  constructor(
    private readonly o: DaemonOptions,
    policy: EffectivePolicy,
  ) {
    this.inForce = { policy, digest: digest(policy), loadedAt: Date.now() };
    this.prober = new Prober((name, source, round) => this.onProbeRound(name, source, round));
    this.scheduler = new Scheduler((req) => this.fullPass(req), {
      periodMs: policy.daemon.resyncInterval,
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
          journal: r.journal.id,
          createdAt: r.journal.createdAt,
          executed: r.journal.executed,
          ops: r.journal.ops.length,
          restoreOps: r.restored.ops,
        },
        "recovered an unfinished apply: restored the state before it",
      );
    }
    this.previous = previousFromKernel(observed, inputs, layoutFor(inputs.uplinks, inputs.routing));
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
    try {
      return o.cleanup ? await this.cleanup() : undefined;
    } finally {
      this.lock?.release();
      this.lock = undefined;
    }
  }

  /**
   * `--cleanup-on-exit`: remove every rule, route, qdisc tree and nft table of ours, as one transaction.
   * Sysctls stay as they are: their values before backhaul are not known.
   */
  private async cleanup(): Promise<TxResult | undefined> {
    return this.exclusive(async () => {
      const observed = await observe({
        stateDir: this.stateDir,
        nftTable: { family: "inet", name: this.inForce.policy.routing.nftTable },
      });
      const inputs = plannerInputs(this.inForce.policy, observed);
      const own = inputs.ownership;
      const target: KernelState = {
        ...observed,
        rule: observed.rule.filter((o) => !isOwned(o, own)),
        route: observed.route.filter((o) => !isOwned(o, own)),
        qdisc: observed.qdisc.filter((o) => !isOwned(o, own)),
        class: observed.class.filter((o) => !isOwned(o, own)),
        filter: observed.filter.filter((o) => !isOwned(o, own)),
        "nft-table": observed["nft-table"].filter((o) => !isOwned(o, own)),
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

  /** A new valid policy: in force from the next pass on. */
  replacePolicy(policy: EffectivePolicy): boolean {
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
    if (transitioned(t, next)) {
      this.o.log.info(
        { uplink: name, from: t.machine.state, to: next.machine.state, reason: next.machine.reason },
        `uplink ${name} ${t.machine.state} → ${next.machine.state}: ${next.machine.reason}`,
      );
      this.trigger(`health ${name} ${t.machine.state}→${next.machine.state}`);
    }
  }

  private async fullPass(req: PassRequest): Promise<SchedulerOutcome> {
    return this.exclusive(async () => {
      const t = performance.now();
      const observed = await observe({
        stateDir: this.stateDir,
        nftTable: { family: "inet", name: this.inForce.policy.routing.nftTable },
      });
      const r = await this.decideAndApply(observed, req.reasons, "full", performance.now() - t);
      const ok = r.record.outcome === "no-change" || r.record.outcome === "applied";
      return ok ? { ok: true } : { ok: false, error: new Error(r.record.error ?? r.record.outcome) };
    });
  }

  /** Health, desired state, plan and transaction on one observation. */
  private async decideAndApply(
    observed: KernelState,
    triggers: readonly string[],
    path: "full" | "fast",
    observeMs?: number,
  ): Promise<PassReport> {
    const startedAt = Date.now();
    const t0 = performance.now();
    const { policy, digest: policyDigest } = this.inForce;
    const policyChanged = this.policyChanged;
    let report: PassReport;
    try {
      const inputs = plannerInputs(policy, observed);
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
      const health = Object.fromEntries([...tracked].map(([n, t]) => [n, healthOf(t)]));
      const base: DesiredInput = {
        uplinks: inputs.uplinks,
        observed,
        health,
        usage: {},
        params: inputs.params,
        families: [4],
        routing: inputs.routing,
        qos: inputs.qos,
        ...(inputs.nat === undefined ? {} : { nat: inputs.nat }),
        ...(this.previous === undefined ? {} : { previous: this.previous }),
      };
      const planWith = (desired: DesiredInput): PlanPass =>
        planPass({
          desired,
          ownership: inputs.ownership,
          policyDigest,
          checkFor: (d) =>
            modelCheck(
              invariantContext(
                inputs,
                observed,
                d.selection.verdicts.filter((v) => v.usable).map((v) => v.iface),
              ),
            ),
          routeFor,
        });
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
          const cause: SwitchCause = switchCause(prevSel, selection, { policyChanged, physicallyLost });
          switched = { from, to, cause, reason: selection.reason };
          const window = { switches: 0, windowMs: policy.selection.rateLimit.window };
          this.switchTimes = [...withinWindow(this.switchTimes, startedAt, window), startedAt];
        }
        if (selection.noneUsable !== undefined && prevSel?.noneUsable === undefined)
          this.o.log.warn({ selection: selection.reason }, selection.reason);
      }
      if (took) {
        this.selection = selection;
        this.previous = toPrevious(selection);
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
        record: {
          startedAt: new Date(startedAt).toISOString(),
          durationMs: round2(performance.now() - t0),
          ...(observeMs === undefined ? {} : { observeMs: round2(observeMs) }),
          triggers,
          path,
          outcome,
          ops: pass.ops.length,
          ...(writtenAt === undefined ? {} : { writtenAfterMs: round2(writtenAt - t0) }),
          ...(error === undefined ? {} : { error }),
          ...(switched === undefined ? {} : { switched }),
        },
        selection,
        ops: pass.ops,
      };
    } catch (e) {
      report = {
        record: {
          startedAt: new Date(startedAt).toISOString(),
          durationMs: round2(performance.now() - t0),
          ...(observeMs === undefined ? {} : { observeMs: round2(observeMs) }),
          triggers,
          path,
          outcome: "failed",
          ops: 0,
          error: e instanceof Error ? e.message : String(e),
        },
        ops: [],
      };
    }
    if (report.record.outcome === "failed") this.lastObserved = undefined;
    this.logPass(report);
    this.passes.push(report.record);
    if (this.passes.length > PASS_HISTORY) this.passes.splice(0, this.passes.length - PASS_HISTORY);
    for (const l of this.listeners) l(report);
    return report;
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
