// `backhaul apply`: plan, ask (or take a saved plan as the approval), then change the kernel as one
// transaction: journal, execute, verify, roll back on failure. See docs/apply.md.
import { randomUUID } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { createInterface } from "node:readline/promises";
import type { Command } from "commander";
import { FAULT_ENV, faultFromEnv } from "../../effects/apply/fault-env.js";
import { pathsToProbe, waitHealthy, type ProbePath } from "../../effects/probe/confirm-healthy.js";
import { isDue, revertPending, stopReverter } from "../../effects/apply/pending-change.js";
import { recover, transact, type TxContext } from "../../effects/apply/transaction.js";
import { describeObject, isOwned, keyOf, ownedState, sameObject } from "../../kinds/registry.js";
import type { KernelObject, KernelState, Op, Ownership } from "../../kinds/types.js";
import { planNode, type PlanNodeResult } from "../plan-session.js";
import { fingerprintObserved, opsFromDocument, type PlanDocument } from "../../core/plan/document.js";
import type { Disruption } from "../../core/plan/disruption.js";
import { renderHuman } from "../plan-view.js";
import { validatePlanDocument } from "../../effects/plan-file.js";
import { DEFAULT_POLICY_PATH, loadPolicy } from "../../policy/load.js";
import { journalPath } from "../../effects/state/journal.js";
import {
  pendingPath,
  readPending,
  removePending,
  writePending,
  type PendingChange,
} from "../../effects/state/pending.js";
import { parseDuration } from "../../util/units.js";
import type { Probes } from "../../policy/types.js";
import { startDetached } from "../../effects/exec.js";
import { isAlive, processStartTime } from "../../effects/proc.js";
import { acquireLock, forceUnlock, LockHeldError, lockPath } from "../../effects/state/lock.js";
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

export async function runApply(arg: string, o: ApplyOptions, io: Out): Promise<number> {
  const report: Record<string, unknown> = { format_version: "1.0" };
  const say = (line: string) => {
    if (!o.json) io.out(`${line}\n`);
  };
  const finish = (code: number, outcome: string, extra: Record<string, unknown> = {}) => {
    if (o.json) io.out(`${JSON.stringify({ ...report, outcome, ...extra }, null, 2)}\n`);
    return code;
  };
  const fail = (message: string, outcome = "error", code: number = EXIT.error) => {
    io.err(`backhaul apply: ${message}\n`);
    return finish(code, outcome, { message });
  };

  if (o.confirmWithin !== undefined && o.confirmWhenHealthy !== undefined)
    return fail("give --confirm-within or --confirm-when-healthy, not both");
  const whenHealthy = o.confirmWhenHealthy !== undefined;
  const confirmFlag = whenHealthy ? "--confirm-when-healthy" : "--confirm-within";
  const confirmArg = o.confirmWhenHealthy === true ? CONFIRM_WHEN_HEALTHY_DEFAULT : o.confirmWhenHealthy;
  const confirmText = o.confirmWithin ?? confirmArg;
  let confirmMs: number | undefined;
  try {
    confirmMs = confirmText === undefined ? undefined : parseDuration(confirmText);
  } catch (e) {
    // An optional value also takes a following word: `--confirm-when-healthy POLICY` lands here.
    const hint = whenHealthy ? " (write the time as --confirm-when-healthy=90s, after the policy)" : "";
    return fail(`${confirmFlag} ${confirmText}: ${(e as Error).message}${hint}`);
  }
  if (confirmMs !== undefined && confirmMs < 1000) return fail(`${confirmFlag} must be at least 1s`);
  let saved: PlanDocument | undefined;
  try {
    saved = readSavedPlan(arg);
  } catch (e) {
    return fail((e as Error).message);
  }
  if (saved !== undefined && saved.policy_file === undefined)
    return fail(`${arg} names no policy (saved before plan format 1.1): save it again with \`plan --out\``);
  const policyPath = saved?.policy_file ?? arg;
  const peer = sshPeer();
  const planOnce = () =>
    planNode({
      policyPath,
      ...(o.assumeHealth === undefined ? {} : { assumeHealth: o.assumeHealth }),
      ...(peer === undefined ? {} : { managementPeer: peer }),
      ...(currentNetns() === undefined ? {} : { netnsName: currentNetns() }),
    });
  const invalid = (
    diagnostics: Parameters<typeof formatHuman>[0],
    texts: Parameters<typeof formatHuman>[1],
  ) => {
    io.err(formatHuman(diagnostics, texts, false) + "\n");
    return fail(`${policyPath}: invalid policy, nothing applied`);
  };
  // The lock's place comes from the policy; the observation the plan rests on is made under the lock.
  const loaded = await loadPolicy(policyPath);
  if (!loaded.ok) return invalid(loaded.diagnostics, loaded.texts);
  const netns = currentNetns();
  const stateDir = loaded.policy.daemon.stateDir;
  let lock;
  try {
    lock = acquireLock(lockPath(stateDir, netns), "apply");
  } catch (e) {
    if (e instanceof LockHeldError) return fail(e.message, "locked");
    throw e;
  }
  try {
    let r = await planOnce();
    if (!r.ok) return invalid(r.diagnostics, r.texts);
    const log = (line: string) => io.err(`backhaul apply: ${line}\n`);
    const ctx: TxContext = {
      ownership: r.inputs.ownership,
      nftTable: r.inputs.ownership.nftTable,
      stateDir,
      journalPath: journalPath(stateDir, netns),
      netnsName: netns,
    };
    if (lock.tookOverFrom !== undefined)
      log(
        `took over a stale lock of a dead process (pid ${lock.tookOverFrom.pid}, ${lock.tookOverFrom.operation})`,
      );
    const rec = await recover(ctx);
    if (rec.found) {
      const j = rec.journal;
      const what = `an unfinished apply (journal ${j.id}, started ${j.createdAt}, ${j.executed} of ${j.ops.length} ops done, ${j.phase})`;
      report["recovered"] = {
        journal: j.id,
        executed: j.executed,
        ops: j.ops.length,
        outcome: rec.outcome,
        ok: rec.restored.ok,
      };
      if (!rec.restored.ok)
        return fail(
          `ROLLBACK FAILED while recovering ${what}: ${rec.restored.reason}; the journal is kept at ${ctx.journalPath}`,
          "rollback-failed",
          EXIT.rollbackFailed,
        );
      say(
        rec.outcome === "completed"
          ? `Found ${what}: all of it had run and the kernel holds its result; closed it.`
          : `Recovered from ${what}: restored the state before it (${rec.restored.ops} ops).`,
      );
      r = await planOnce();
      if (!r.ok) return invalid(r.diagnostics, r.texts);
    }
    const pendingFile = pendingPath(stateDir, netns);
    let pending = readPending(pendingFile);
    // A change still waiting for confirmation: applying again with --confirm-within extends its
    // deadline (and applies what the plan holds on top of it; a revert still goes back to the state
    // before the first unconfirmed change). Without --confirm-within (or --confirm-when-healthy) apply
    // refuses.
    let extending: PendingChange | undefined;
    if (pending !== undefined && !isDue(pending)) {
      if (confirmMs === undefined)
        return fail(
          `the change applied at ${pending.createdAt} waits for confirmation until ${pending.deadline}: ` +
            "run `backhaul confirm` or `backhaul revert` first, or apply again with --confirm-within " +
            "(or --confirm-when-healthy) to extend it",
          "pending",
        );
      extending = pending;
      pending = undefined;
    }
    if (pending !== undefined) {
      // Its reverter did not get to it (the node rebooted, or it was killed): revert it here.
      const back = await revertPending(pending, pendingFile, stateDir);
      report["reverted_unconfirmed"] = { applied_at: pending.createdAt, ok: back.ok };
      if (!back.ok)
        return fail(
          `REVERT FAILED for the unconfirmed change applied at ${pending.createdAt}: ${back.reason}; ` +
            `the record is kept at ${pendingFile}`,
          "rollback-failed",
          EXIT.rollbackFailed,
        );
      say(
        `Reverted the change applied at ${pending.createdAt}: it was not confirmed by ${pending.deadline}.`,
      );
      r = await planOnce();
      if (!r.ok) return invalid(r.diagnostics, r.texts);
    }
    if (!r.pass.ok) return fail(`refused: ${r.pass.error.message}`);
    // A saved plan makes active what its own selection chose (health may have been assumed then).
    const paths = pathsToProbe(
      r.pass.desired.selection,
      saved?.selection?.active.map((a) => a.name),
    );
    if (whenHealthy && paths.length === 0)
      return fail(
        "refused: --confirm-when-healthy needs an active uplink to probe through, and the new state has none " +
          `(${r.pass.desired.selection.reason}); nothing applied`,
        "refused",
      );
    let ops: readonly Op[];
    let disruptions: readonly Disruption[];
    let doc: PlanDocument;
    if (saved !== undefined) {
      const stale: string[] = [];
      if (saved.fingerprint.policy !== r.policyDigest)
        stale.push(`the policy ${policyPath} changed since the plan was made`);
      if (saved.fingerprint.observed_owned !== fingerprintObserved(r.observed, ctx.ownership)) {
        const found = staleness(opsFromDocument(saved), r.observed, ctx.ownership);
        stale.push(...(found.length > 0 ? found : ["owned objects the plan does not touch changed"]));
      }
      if (stale.length > 0)
        return fail(
          `Saved plan is stale, nothing applied; make a new one with \`backhaul plan --out\`:\n  ${stale.join("\n  ")}`,
          "stale",
        );
      ops = opsFromDocument(saved);
      disruptions = saved.ops.map((p) => p.disruption);
      doc = saved;
    } else {
      ops = r.pass.ops;
      disruptions = r.pass.disruptions;
      doc = documentOf(r as Planned, false);
    }
    report["ops"] = ops.length;
    const awaitConfirm = async (ms: number) => {
      const started = await startPending(r.observed, ctx, ms, pendingFile, stateDir, netns, extending);
      if (!started.ok) return fail(started.message, started.outcome, started.code);
      if (started.extended)
        say(
          `Extended the deadline of the change applied at ${started.record.createdAt} (was ${extending?.deadline}).`,
        );
      if (!whenHealthy) return announce(started.record, ms, netns, say, finish);
      const probes = (r as Planned).policy.probes;
      return settleWhenHealthy(started.record, probes, paths, pendingFile, stateDir, say, fail, finish);
    };
    if (ops.length === 0 && extending !== undefined && confirmMs !== undefined) {
      say("No changes. The kernel already holds the desired state.");
      return awaitConfirm(confirmMs);
    }
    if (ops.length === 0) {
      say("No changes. The kernel already holds the desired state.");
      return finish(EXIT.ok, "no-changes", { writing_processes: 0 });
    }
    const mgmt = ops.flatMap((op, i) => (disruptions[i] === "management-path" ? [opLabel(op, i)] : []));
    if (mgmt.length > 0 && !o.allowMgmtChange && confirmMs === undefined)
      return fail(
        `refused: the plan moves the route of your SSH session (SSH_CONNECTION from ${peer ?? "?"}): ` +
          `${mgmt.join(", ")}. A mistake here cuts you off; rerun with --confirm-within (reverted unless confirmed), ` +
          "--confirm-when-healthy (reverted unless the probes pass through the new state) or --allow-mgmt-change.",
        "refused",
      );
    if (!o.json) io.out(renderHuman(doc));
    if (saved === undefined && !o.autoApprove) {
      if (!process.stdin.isTTY || !process.stdout.isTTY || o.json)
        return fail("not applied: without a terminal to ask on, pass --auto-approve or a saved plan FILE");
      if (!(await confirm("Apply these changes? Only 'yes' is accepted: ")))
        return fail("not applied: not approved", "not-approved");
    }
    const fault = faultFromEnv(process.env[FAULT_ENV], log);
    const tx = await transact(r.observed, ops, r.policyDigest, {
      ...ctx,
      ...(fault === undefined ? {} : { fault }),
    });
    report["executed"] = tx.exec.executed;
    report["writing_processes"] = tx.exec.processes;
    if (tx.outcome === "applied") {
      say(
        `Applied ${ops.length} ops in ${tx.exec.processes} writing process(es); the kernel holds the result.`,
      );
      if (confirmMs === undefined) return finish(EXIT.ok, "applied");
      return awaitConfirm(confirmMs);
    }
    if (tx.outcome === "rolled-back")
      return fail(
        `${tx.reason}\nRolled back: the kernel holds the owned state it held before this apply.`,
        "rolled-back",
        EXIT.error,
      );
    return fail(
      `${tx.reason}\nROLLBACK FAILED: ${tx.rollback}\n` +
        `The kernel is between states. The journal is kept at ${ctx.journalPath}; ` +
        `the next \`backhaul apply\` tries to restore it again.\n` +
        tx.left.map((op, i) => `  still to undo: ${opLabel(op, i)}`).join("\n"),
      "rollback-failed",
      EXIT.rollbackFailed,
    );
  } finally {
    lock.release();
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
  say: (line: string) => void,
  fail: (message: string, outcome?: string, code?: number) => number,
  finish: (code: number, outcome: string, extra?: Record<string, unknown>) => number,
): Promise<number> {
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

function announce(
  record: PendingChange,
  confirmMs: number,
  netns: string | undefined,
  say: (line: string) => void,
  finish: (code: number, outcome: string, extra?: Record<string, unknown>) => number,
): number {
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
