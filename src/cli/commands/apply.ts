// `backhaul apply`: plan, ask (or take a saved plan as the approval), then change the kernel as one
// transaction: journal, execute, verify, roll back on failure. See docs/apply.md.
import { randomUUID } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { createInterface } from "node:readline/promises";
import type { Command } from "commander";
import { FAULT_ENV, faultFromEnv } from "../../effects/apply/fault-env.js";
import { pathsToProbe, waitHealthy, type ProbePath } from "../../effects/probe/confirm-healthy.js";
import { isDue, revertPending, stopReverter } from "../../effects/apply/pending-change.js";
import { awaitLeases, LEASE_WAIT_MS } from "../../effects/dhcp/await-lease.js";
import { transact, type TxContext, type TxResult } from "../../effects/apply/transaction.js";
import {
  describeRecovered,
  openWriter,
  txContextOf,
  WriterRefused,
  type Recovered,
  type Writer,
} from "../../effects/apply/writer.js";
import { describeObject, isOwned, keyOf, ownedState, sameObject } from "../../kinds/registry.js";
import type { KernelObject, KernelState, Op, Ownership } from "../../kinds/types.js";
import { planNode, type PlanNodeResult } from "../plan-session.js";
import type { Desired } from "../../core/plan/desired.js";
import { isDefault } from "../../core/selection/gateway.js";
import { fingerprintObserved, opsFromDocument, type PlanDocument } from "../../core/plan/document.js";
import type { Disruption } from "../../core/plan/disruption.js";
import { renderHuman } from "../plan-view.js";
import { validatePlanDocument } from "../../effects/plan-file.js";
import { DEFAULT_POLICY_PATH, loadPolicy } from "../../policy/load.js";
import {
  pendingPath,
  readPending,
  removePending,
  writePending,
  type PendingChange,
} from "../../effects/state/pending.js";
import { parseDuration } from "../../util/units.js";
import type { EffectivePolicy, Probes } from "../../policy/types.js";
import { startDetached } from "../../effects/exec.js";
import { isAlive, processStartTime } from "../../effects/proc.js";
import { forceUnlock, lockPath } from "../../effects/state/lock.js";
import { formatHuman } from "../diagnostics.js";
import { EXIT } from "../exit.js";
import { currentNetns } from "../../effects/netns.js";
import { documentOf, sshPeer } from "./plan.js";

export { FAULT_ENV, faultFromEnv };

export interface ApplyOptions {
  readonly json?: boolean;
  readonly autoApprove?: boolean;
  readonly assumeHealth?: string;
  readonly allowMgmtChange?: boolean;
  /** Revert unless `backhaul confirm` comes within this duration ("120s", "2m"). */
  readonly confirmWithin?: string;
  /** Confirm once the policy's probes pass through the new state, revert unless they do in time. */
  readonly confirmWhenHealthy?: string | true;
}

/** How long --confirm-when-healthy waits for the probes when given no time (docs/apply.md). */
export const CONFIRM_WHEN_HEALTHY_DEFAULT = "60s";

/** A saved plan (JSON with a format_version), or undefined when `arg` names a policy. */
export function readSavedPlan(arg: string): PlanDocument | undefined {
  if (!existsSync(arg) || !statSync(arg).isFile()) return undefined;
  const text = readFileSync(arg, "utf8");
  if (!text.trimStart().startsWith("{")) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null || !("format_version" in value)) return undefined;
  const v = validatePlanDocument(value);
  if (!v.ok) throw new Error(`${arg} is not a valid saved plan:\n  ${v.errors.join("\n  ")}`);
  return v.doc;
}

/** What in the kernel's owned state no longer matches what a saved plan's ops expect. */
export function staleness(ops: readonly Op[], observed: KernelState, own: Ownership): string[] {
  const now = new Map<string, KernelObject>();
  for (const list of Object.values(observed) as KernelObject[][])
    for (const o of list) if (isOwned(o, own)) now.set(`${o.kind} ${keyOf(o)}`, o);
  const out: string[] = [];
  for (const op of ops) {
    // An add expects its key free; a change or delete expects exactly the object it was planned on.
    const obj = op.op === "add" ? op.after : op.before;
    const cur = now.get(`${obj.kind} ${keyOf(obj)}`);
    const what = `${obj.kind} ${describeObject(obj)}`;
    if (op.op === "add") {
      if (cur !== undefined) out.push(`${what} already exists`);
    } else if (cur === undefined) out.push(`${what} is gone`);
    else if (!sameObject(cur, op.before)) out.push(`${obj.kind} ${describeObject(cur)} changed`);
  }
  return out;
}

interface Out {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

type Planned = Extract<PlanNodeResult, { ok: true }>;

async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    return (await rl.question(question)).trim() === "yes";
  } finally {
    rl.close();
  }
}

function opLabel(op: Op, index: number): string {
  const obj = op.op === "delete" ? op.before : op.after;
  return `op ${index} (${op.op} ${obj.kind} ${describeObject(obj)})`;
}

/** How one apply speaks: human lines unless --json, one JSON report at the end, errors on stderr. */
class Report {
  readonly fields: Record<string, unknown> = { format_version: "1.0" };
  /** What the last transaction of this apply made the kernel hold: what carries general traffic. */
  desired: Desired | undefined;
  constructor(
    private readonly io: Out,
    private readonly json: boolean,
  ) {}
  say = (line: string): void => {
    if (!this.json) this.io.out(`${line}\n`);
  };
  log = (line: string): void => this.io.err(`backhaul apply: ${line}\n`);
  finish = (code: number, outcome: string, extra: Record<string, unknown> = {}): number => {
    if (this.json) this.io.out(`${JSON.stringify({ ...this.fields, outcome, ...extra }, null, 2)}\n`);
    return code;
  };
  /** With --json the error is in the JSON only: one place, for whatever parses it. */
  fail = (message: string, outcome = "error", code: number = EXIT.error): number => {
    if (!this.json) this.log(message);
    return this.finish(code, outcome, { message });
  };
}

/** A confirmation window asked for on the command line: none, a deadline, or probes with a deadline. */
type ConfirmMode =
  { readonly kind: "none" } | { readonly kind: "within" | "when-healthy"; readonly ms: number };

function confirmMode(o: ApplyOptions): ConfirmMode | { readonly error: string } {
  if (o.confirmWithin !== undefined && o.confirmWhenHealthy !== undefined)
    return { error: "give --confirm-within or --confirm-when-healthy, not both" };
  const whenHealthy = o.confirmWhenHealthy !== undefined;
  const flag = whenHealthy ? "--confirm-when-healthy" : "--confirm-within";
  const text =
    o.confirmWithin ?? (o.confirmWhenHealthy === true ? CONFIRM_WHEN_HEALTHY_DEFAULT : o.confirmWhenHealthy);
  if (text === undefined) return { kind: "none" };
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch (e) {
    // An optional value also takes a following word: `--confirm-when-healthy POLICY` lands here.
    const hint = whenHealthy ? " (write the time as --confirm-when-healthy=90s, after the policy)" : "";
    return { error: `${flag} ${text}: ${(e as Error).message}${hint}` };
  }
  if (ms < 1000) return { error: `${flag} must be at least 1s` };
  return { kind: whenHealthy ? "when-healthy" : "within", ms };
}

/** What this apply will run: the saved plan's ops when still true of the kernel, or the fresh plan's. */
type Chosen =
  | {
      readonly ok: true;
      readonly ops: readonly Op[];
      readonly disruptions: readonly Disruption[];
      readonly doc: PlanDocument;
    }
  | { readonly ok: false; readonly stale: readonly string[] };

function chooseOps(saved: PlanDocument | undefined, r: Planned, policyPath: string): Chosen {
  if (!r.pass.ok) throw new Error("chooseOps needs a plan that passed its checks");
  if (saved === undefined)
    return { ok: true, ops: r.pass.ops, disruptions: r.pass.disruptions, doc: documentOf(r, false) };
  const own = r.inputs.ownership;
  const stale: string[] = [];
  if (saved.fingerprint.policy !== r.policyDigest)
    stale.push(`the policy ${policyPath} changed since the plan was made`);
  if (saved.fingerprint.observed_owned !== fingerprintObserved(r.observed, own)) {
    const found = staleness(opsFromDocument(saved), r.observed, own);
    stale.push(...(found.length > 0 ? found : ["owned objects the plan does not touch changed"]));
  }
  if (stale.length > 0) return { ok: false, stale };
  return {
    ok: true,
    ops: opsFromDocument(saved),
    disruptions: saved.ops.map((p) => p.disruption),
    doc: saved,
  };
}

/** What a change still waiting for confirmation means for this apply. */
type Leftover =
  | { readonly kind: "none" }
  | { readonly kind: "extend"; readonly pending: PendingChange }
  | { readonly kind: "reverted"; readonly pending: PendingChange }
  | { readonly kind: "refused"; readonly code: number };

/**
 * A change still waiting for confirmation: applying again with a confirmation window extends its
 * deadline (and applies what the plan holds on top of it; a revert still goes back to the state
 * before the first unconfirmed change); without one, apply refuses. A change past its deadline whose
 * reverter never got to it (a reboot, a kill) is reverted here first.
 */
async function settlePending(
  file: string,
  stateDir: string,
  mode: ConfirmMode,
  rep: Report,
): Promise<Leftover> {
  const pending = readPending(file);
  if (pending === undefined) return { kind: "none" };
  if (!isDue(pending)) {
    if (mode.kind !== "none") return { kind: "extend", pending };
    const code = rep.fail(
      `the change applied at ${pending.createdAt} waits for confirmation until ${pending.deadline}: ` +
        "run `backhaul confirm` or `backhaul revert` first, or apply again with --confirm-within " +
        "(or --confirm-when-healthy) to extend it",
      "pending",
    );
    return { kind: "refused", code };
  }
  const back = await revertPending(pending, file, stateDir);
  rep.fields["reverted_unconfirmed"] = { applied_at: pending.createdAt, ok: back.ok };
  if (!back.ok) {
    const code = rep.fail(
      `REVERT FAILED for the unconfirmed change applied at ${pending.createdAt}: ${back.reason}; ` +
        `the record is kept at ${file}`,
      "rollback-failed",
      EXIT.rollbackFailed,
    );
    return { kind: "refused", code };
  }
  rep.say(
    `Reverted the change applied at ${pending.createdAt}: it was not confirmed by ${pending.deadline}.`,
  );
  return { kind: "reverted", pending };
}

/** Become the writer (lock, then recovery of a dead writer's journal), or report why not and give the exit code. */
async function becomeWriter(
  policy: EffectivePolicy,
  netns: string | undefined,
  rep: Report,
): Promise<Writer | number> {
  let writer: Writer;
  try {
    writer = await openWriter(policy, netns, "apply");
  } catch (e) {
    if (!(e instanceof WriterRefused)) throw e;
    if (e.recovered !== undefined) rep.fields["recovered"] = recoveredField(e.recovered);
    return e.reason === "locked"
      ? rep.fail(e.message, "locked")
      : rep.fail(e.message, "rollback-failed", EXIT.rollbackFailed);
  }
  if (writer.tookOverFrom !== undefined)
    rep.log(
      `took over a stale lock of a dead process (pid ${writer.tookOverFrom.pid}, ${writer.tookOverFrom.operation})`,
    );
  if (writer.recovered !== undefined) {
    rep.fields["recovered"] = recoveredField(writer.recovered);
    rep.say(describeRecovered(writer.recovered));
  }
  return writer;
}

function recoveredField(r: Recovered) {
  return {
    journal: r.journal.id,
    executed: r.journal.executed,
    ops: r.journal.ops.length,
    outcome: r.outcome,
    ok: r.restored.ok,
  };
}

/**
 * The guards before the first write: a plan that moves the SSH session's route needs a way back, and
 * a fresh plan needs a yes (a saved plan was the approval). The exit code when refused.
 */
async function approve(
  chosen: Extract<Chosen, { ok: true }>,
  fromSaved: boolean,
  mode: ConfirmMode,
  peer: string | undefined,
  o: ApplyOptions,
  io: Out,
  rep: Report,
): Promise<number | undefined> {
  const { ops, disruptions, doc } = chosen;
  const mgmt = ops.flatMap((op, i) => (disruptions[i] === "management-path" ? [opLabel(op, i)] : []));
  if (mgmt.length > 0 && !o.allowMgmtChange && mode.kind === "none")
    return rep.fail(
      `refused: the plan moves the route of your SSH session (SSH_CONNECTION from ${peer ?? "?"}): ` +
        `${mgmt.join(", ")}. A mistake here cuts you off; rerun with --confirm-within (reverted unless confirmed), ` +
        "--confirm-when-healthy (reverted unless the probes pass through the new state) or --allow-mgmt-change.",
      "refused",
    );
  if (!o.json) io.out(renderHuman(doc));
  if (!fromSaved && !o.autoApprove) {
    if (!process.stdin.isTTY || !process.stdout.isTTY || o.json)
      return rep.fail("not applied: without a terminal to ask on, pass --auto-approve or a saved plan FILE");
    if (!(await confirm("Apply these changes? Only 'yes' is accepted: ")))
      return rep.fail("not applied: not approved", "not-approved");
  }
  return undefined;
}

/** Report a transaction that did not apply: rolled back, or stuck between states with its journal kept. */
function failed(tx: Exclude<TxResult, { outcome: "applied" }>, journal: string, rep: Report): number {
  if (tx.outcome === "rolled-back")
    return rep.fail(
      `${tx.reason}\nRolled back: the kernel holds the owned state it held before this apply.`,
      "rolled-back",
      EXIT.error,
    );
  return rep.fail(
    `${tx.reason}\nROLLBACK FAILED: ${tx.rollback}\n` +
      `The kernel is between states. The journal is kept at ${journal}; ` +
      `the next \`backhaul apply\` tries to restore it again.\n` +
      tx.left.map((op, i) => `  still to undo: ${opLabel(op, i)}`).join("\n"),
    "rollback-failed",
    EXIT.rollbackFailed,
  );
}

/** Follow-up transactions one apply runs at most (leases, then uplinks measurable only after them). */
const FOLLOW_UPS = 3;

/**
 * One apply converges. A first transaction on a fresh node builds each uplink's own path (table and
 * source rule) and starts its DHCP clients, but could measure no uplink through a path that did not
 * exist yet, so general traffic would have no route. Each follow-up waits for the leases the previous
 * step started (LEASE_WAIT_MS at most), plans again (probing through the paths now in place) and
 * applies what that made possible, until nothing is left to wait for or to measure. Undefined when
 * that went well; the exit code when a follow-up failed (what was applied before stays: verified).
 */
async function converge(
  first: { readonly ops: readonly Op[]; readonly unprobed: readonly string[]; readonly desired: Desired },
  replan: () => Promise<PlanNodeResult>,
  ctx: TxContext,
  digest: string,
  rep: Report,
): Promise<number | undefined> {
  let { ops, unprobed } = first;
  rep.desired = first.desired;
  const leased: Record<string, string | null> = {};
  const then = { ops: 0, executed: 0, transactions: 0 };
  for (let round = 0; round < FOLLOW_UPS; round++) {
    const started = ops.flatMap((op) =>
      op.op === "add" && op.after.kind === "dhcp-client" ? [op.after.iface] : [],
    );
    const leases = started.length === 0 ? new Map() : await awaitLeases(ctx.stateDir, ctx.netnsName, started);
    for (const [iface, l] of leases) {
      leased[iface] = l?.address ?? null;
      rep.say(
        l === undefined
          ? `${iface}: no DHCP lease within ${LEASE_WAIT_MS / 1000} s; its uplink joins once it has one (the daemon plans it then, or apply again).`
          : `${iface}: DHCP lease ${l.address}${l.router === undefined ? "" : ` via ${l.router}`} for ${l.seconds} s.`,
      );
    }
    if (Object.keys(leased).length > 0) rep.fields["leases"] = leased;
    const gotLease = [...leases.values()].some((l) => l !== undefined);
    if (!gotLease && unprobed.length === 0) break;
    const next = await replan();
    if (!next.ok || !next.pass.ok)
      return rep.fail("planning again (with the leases and the new paths) failed; what was applied stays");
    // What was approved is the policy as it was read: one edited meanwhile waits for the next apply.
    if (next.policyDigest !== digest)
      return rep.fail(
        "the policy changed during this apply; what was applied stays: apply again for the rest",
      );
    if (next.pass.ops.length === 0) break;
    const tx = await transact(next.observed, next.pass.ops, digest, ctx);
    then.ops += next.pass.ops.length;
    then.executed += tx.exec.executed;
    then.transactions++;
    rep.fields["then"] = then;
    if (tx.outcome !== "applied") return failed(tx, ctx.journalPath, rep);
    const why = [
      ...(gotLease ? ["the leases"] : []),
      ...(unprobed.length > 0 ? [`${unprobed.join(", ")} measured`] : []),
    ];
    rep.say(
      `Then, with ${why.join(" and ")}: applied ${next.pass.ops.length} ops; the kernel holds the result.`,
    );
    ops = next.pass.ops;
    unprobed = next.unprobed;
    rep.desired = next.pass.desired;
  }
  return undefined;
}

/**
 * The outcome of an apply that holds, with what carries general traffic now. No general route is said
 * plainly and has its own exit code: the kernel holds the change, but general traffic goes nowhere.
 */
function applied(rep: Report, outcome: "applied" | "no-changes" = "applied"): number {
  const d = rep.desired;
  if (d === undefined) return rep.finish(EXIT.ok, outcome);
  const s = d.selection;
  rep.fields["active"] = s.active.map((a) => a.name);
  if (s.active.length > 0) {
    rep.say(`General traffic goes by ${s.active.map((a) => a.name).join(" + ")}.`);
    return rep.finish(EXIT.ok, outcome);
  }
  const routed = d.state.route.some((r) => r.table === d.layout.activeTable && isDefault(r.dst));
  rep.fields["general_route"] = routed;
  if (routed) {
    rep.say(`No uplink is usable; the last general route is kept (noUsableUplink: keep-last): ${s.reason}.`);
    return rep.finish(EXIT.ok, outcome);
  }
  rep.say(`No uplink is usable, so general traffic has no route: ${s.reason}.`);
  return rep.finish(EXIT.noRoute, outcome);
}

/** Plan, settle what earlier writers left, choose and guard the ops, then run them as one transaction. */
export async function runApply(arg: string, o: ApplyOptions, io: Out): Promise<number> {
  const rep = new Report(io, o.json === true);
  const mode = confirmMode(o);
  if ("error" in mode) return rep.fail(mode.error);
  let saved: PlanDocument | undefined;
  try {
    saved = readSavedPlan(arg);
  } catch (e) {
    return rep.fail((e as Error).message);
  }
  if (saved !== undefined && saved.policy_file === undefined)
    return rep.fail(
      `${arg} names no policy (saved before plan format 1.1): save it again with \`plan --out\``,
    );
  const policyPath = saved?.policy_file ?? arg;
  const invalid = (
    diagnostics: Parameters<typeof formatHuman>[0],
    texts: Parameters<typeof formatHuman>[1],
  ) => {
    io.err(formatHuman(diagnostics, texts, false) + "\n");
    return rep.fail(`${policyPath}: invalid policy, nothing applied`);
  };
  // The lock's place comes from the policy; the observation the plan rests on is made under the lock.
  const loaded = await loadPolicy(policyPath);
  if (!loaded.ok) return invalid(loaded.diagnostics, loaded.texts);
  const netns = currentNetns();
  const writer = await becomeWriter(loaded.policy, netns, rep);
  if (typeof writer === "number") return writer;
  try {
    const stateDir = loaded.policy.daemon.stateDir;
    const pendingFile = pendingPath(stateDir, netns);
    const leftover = await settlePending(pendingFile, stateDir, mode, rep);
    if (leftover.kind === "refused") return leftover.code;
    const peer = sshPeer();
    const replan = () =>
      planNode({
        policyPath,
        ...(o.assumeHealth === undefined ? {} : { assumeHealth: o.assumeHealth }),
        ...(peer === undefined ? {} : { managementPeer: peer }),
        ...(netns === undefined ? {} : { netnsName: netns }),
      });
    const r = await replan();
    if (!r.ok) return invalid(r.diagnostics, r.texts);
    if (!r.pass.ok) return rep.fail(`refused: ${r.pass.error.message}`, "refused");
    const ctx = txContextOf(r.policy, r.inputs.ownership, netns);
    // A saved plan makes active what its own selection chose (health may have been assumed then).
    const paths = pathsToProbe(
      r.pass.desired.selection,
      saved?.selection?.active.map((a) => a.name),
    );
    if (mode.kind === "when-healthy" && paths.length === 0)
      return rep.fail(
        "refused: --confirm-when-healthy needs an active uplink to probe through, and the new state has none " +
          `(${r.pass.desired.selection.reason}); nothing applied`,
        "refused",
      );
    const chosen = chooseOps(saved, r, policyPath);
    if (!chosen.ok)
      return rep.fail(
        `Saved plan is stale, nothing applied; make a new one with \`backhaul plan --out\`:\n  ${chosen.stale.join("\n  ")}`,
        "stale",
      );
    const { ops } = chosen;
    rep.fields["ops"] = ops.length;
    const extending = leftover.kind === "extend" ? leftover.pending : undefined;
    const awaitConfirm = async (ms: number) => {
      const started = await startPending(r.observed, ctx, ms, pendingFile, stateDir, netns, extending);
      if (!started.ok) return rep.fail(started.message, started.outcome, started.code);
      if (started.extended)
        rep.say(
          `Extended the deadline of the change applied at ${started.record.createdAt} (was ${extending?.deadline}).`,
        );
      if (mode.kind !== "when-healthy") return announce(started.record, ms, netns, rep);
      return settleWhenHealthy(started.record, r.policy.probes, paths, pendingFile, stateDir, rep);
    };
    if (ops.length === 0) {
      rep.say("No changes. The kernel already holds the desired state.");
      if (extending !== undefined && mode.kind !== "none") return awaitConfirm(mode.ms);
      rep.fields["writing_processes"] = 0;
      rep.desired = r.pass.desired;
      return applied(rep, "no-changes");
    }
    const refused = await approve(chosen, saved !== undefined, mode, peer, o, io, rep);
    if (refused !== undefined) return refused;
    const fault = faultFromEnv(process.env[FAULT_ENV], rep.log);
    const tx = await transact(r.observed, ops, r.policyDigest, {
      ...ctx,
      ...(fault === undefined ? {} : { fault }),
    });
    rep.fields["executed"] = tx.exec.executed;
    rep.fields["writing_processes"] = tx.exec.processes;
    if (tx.outcome === "applied") {
      rep.say(
        `Applied ${ops.length} ops in ${tx.exec.processes} writing process(es); the kernel holds the result.`,
      );
      const then = await converge(
        { ops, unprobed: r.unprobed, desired: r.pass.desired },
        replan,
        ctx,
        r.policyDigest,
        rep,
      );
      if (then !== undefined) return then;
      return mode.kind === "none" ? applied(rep) : awaitConfirm(mode.ms);
    }
    return failed(tx, ctx.journalPath, rep);
  } finally {
    writer.release();
  }
}

type Started =
  | { readonly ok: true; readonly record: PendingChange; readonly extended: boolean }
  | { readonly ok: false; readonly message: string; readonly outcome: string; readonly code: number };

/**
 * Record the change as pending and start its detached reverter; without a reverter, revert now.
 * With `extending` (a change already pending) only the deadline moves: the record keeps its id and
 * pre-state, and its reverter, which re-reads the record, waits for the new deadline.
 */
async function startPending(
  observed: KernelState,
  ctx: TxContext,
  confirmMs: number,
  file: string,
  stateDir: string,
  netns: string | undefined,
  extending?: PendingChange,
): Promise<Started> {
  const deadline = new Date(Date.now() + confirmMs).toISOString();
  const record: PendingChange =
    extending === undefined
      ? {
          id: randomUUID(),
          createdAt: new Date().toISOString(),
          deadline,
          netns: netns ?? null,
          ownership: ctx.ownership,
          preState: ownedState(observed, ctx.ownership),
        }
      : { ...extending, deadline };
  writePending(file, record);
  const r = record.reverter;
  const script = process.argv[1];
  try {
    if (extending !== undefined && r !== undefined && isAlive(r.pid, r.startTime))
      return { ok: true, record, extended: true };
    if (script === undefined) throw new Error("cannot find the backhaul script to start the reverter");
    const pid = await startDetached(
      [
        process.execPath,
        ...process.execArgv,
        script,
        "revert",
        "--when-due",
        record.id,
        "--state-dir",
        stateDir,
      ],
      { readyLine: "waiting", stderrFile: `${file}.log`, timeoutMs: 15_000 },
    );
    const startTime = processStartTime(pid);
    if (startTime === undefined) return { ok: true, record, extended: extending !== undefined };
    const withReverter = { ...record, reverter: { pid, startTime } };
    writePending(file, withReverter);
    return { ok: true, record: withReverter, extended: extending !== undefined };
  } catch (e) {
    const back = await revertPending(record, file, stateDir);
    return {
      ok: false,
      message:
        `could not start the process that reverts the change at its deadline (${(e as Error).message}); ` +
        (back.ok ? "reverted it now" : `REVERT FAILED: ${back.reason}; the record is kept at ${file}`),
      outcome: back.ok ? "rolled-back" : "rollback-failed",
      code: back.ok ? EXIT.error : EXIT.rollbackFailed,
    };
  }
}

/**
 * --confirm-when-healthy: probe through the new state until the deadline; confirm on the first round
 * that passes on every path, revert when none does. Apply still holds the writer lock, so the reverter
 * waiting for the same deadline finds the record gone either way; if this process dies meanwhile, the
 * reverter reverts at the deadline as it does for --confirm-within.
 */
async function settleWhenHealthy(
  record: PendingChange,
  probes: Probes,
  paths: readonly ProbePath[],
  file: string,
  stateDir: string,
  rep: Report,
): Promise<number> {
  const { say, fail, finish } = rep;
  say(
    `Probing ${paths.map((p) => p.label).join(" and ")} until ${record.deadline}: ` +
      "the change stays once the policy's probes pass through it, and is reverted otherwise.",
  );
  const v = await waitHealthy(probes, paths, Date.parse(record.deadline));
  if (v.ok) {
    removePending(file);
    stopReverter(record);
    say(`Confirmed: the probes pass through the new state (${v.reason}).`);
    return finish(EXIT.ok, "applied", { confirmed: "healthy", health: v.reason });
  }
  const back = await revertPending(record, file, stateDir);
  if (!back.ok)
    return fail(
      `the probes did not pass through the new state by ${record.deadline} (${v.reason}); ` +
        `REVERT FAILED: ${back.reason}; the record is kept at ${file}`,
      "rollback-failed",
      EXIT.rollbackFailed,
    );
  return fail(
    `the probes did not pass through the new state by ${record.deadline} (${v.reason}).\n` +
      `Reverted: the kernel holds the owned state from before the change applied at ${record.createdAt}.`,
    "rolled-back",
    EXIT.error,
  );
}

function announce(record: PendingChange, confirmMs: number, netns: string | undefined, rep: Report): number {
  const { say, finish } = rep;
  const on = netns === undefined ? "" : ` --netns ${netns}`;
  say(
    `This change is reverted at ${record.deadline} (in ${Math.round(confirmMs / 1000)} s) unless you run ` +
      `\`backhaul confirm${on}\` before then; \`backhaul revert${on}\` undoes it now.`,
  );
  return finish(EXIT.ok, "applied-pending-confirmation", { deadline: record.deadline });
}

export function registerApply(program: Command): void {
  program
    .command("apply")
    .description("Change the kernel to the policy (or a saved plan), verify, roll back on failure")
    .argument(
      "[policy-or-plan]",
      "policy file or directory, or a plan saved by `plan --out`",
      DEFAULT_POLICY_PATH,
    )
    .option("--json", "print the outcome as JSON")
    .option("--auto-approve", "apply without asking")
    .option("--assume-health <spec>", 'skip probing: "up", "down", "up:NAME,down:NAME", ...')
    .option("--allow-mgmt-change", "allow changes to the route of the current SSH session")
    .option("--confirm-within <duration>", "revert unless `backhaul confirm` comes within this time (120s)")
    .option(
      "--confirm-when-healthy [timeout]",
      `confirm once the policy's probes pass through the new state, revert unless they do within TIMEOUT (default ${CONFIRM_WHEN_HEALTHY_DEFAULT})`,
    )
    .option("--netns <name>", "apply in this network namespace")
    .action(async (arg: string, o: ApplyOptions) => {
      process.exitCode = await runApply(arg, o, {
        out: (t) => process.stdout.write(t),
        err: (t) => process.stderr.write(t),
      });
    });
}

export function registerForceUnlock(program: Command): void {
  program
    .command("force-unlock")
    .description("Remove the writer lock of this namespace when its id matches (only when you are sure)")
    .argument("<id>", "the lock id the error message named")
    .argument("[policy]", "policy whose daemon.stateDir holds the lock", DEFAULT_POLICY_PATH)
    .option("--netns <name>", "the namespace whose lock to remove")
    .action(async (id: string, policy: string) => {
      const loaded = await loadPolicy(policy);
      if (!loaded.ok) {
        process.stderr.write(`${formatHuman(loaded.diagnostics, loaded.texts, false)}\n`);
        process.exitCode = EXIT.error;
        return;
      }
      try {
        const held = forceUnlock(lockPath(loaded.policy.daemon.stateDir, currentNetns()), id);
        process.stdout.write(`Removed the lock ${id} (${held.operation} by ${held.who}, pid ${held.pid}).\n`);
      } catch (e) {
        process.stderr.write(`backhaul force-unlock: ${(e as Error).message}\n`);
        process.exitCode = EXIT.error;
      }
    });
}
