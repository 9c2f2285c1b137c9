// The daemon's conditions, in the manner of Kubernetes controllers (and Flux's use of them): Ready says
// whether the node is where the policy wants it, Reconciling whether the daemon is working on it,
// Stalled whether it cannot get on without a person. A pure function of the loop's facts; a
// condition keeps its lastTransitionTime while its status and reason stay the same.
//
// A refused policy edit is Stalled/PolicyInvalid, and Ready stays as it is: the node keeps running the
// last good policy (Ready says how that goes), but the daemon cannot reach what is on disk until
// someone fixes the file, which is what Stalled means in kstatus. Alerting on Stalled then catches
// both a broken edit and a failed rollback, while Ready keeps answering "is traffic flowing as meant".
import type { Condition, ConditionType, PassOutcome, PassRecord } from "./status-model.js";

export interface ConditionFacts {
  /** A pass is running right now. */
  readonly passInFlight: boolean;
  /** The newest finished pass; absent until the first one ends. */
  readonly lastPass?: PassRecord;
  /** Passes in a row that did not succeed (failed, rolled back, rollback failed), since the last success. */
  readonly consecutiveFailures: number;
  /** The policy edit on disk that was refused, with its errors at file:line:col. */
  readonly policyRejected?: { readonly errors: readonly string[] };
  /** The last finished pass left the owned kernel state equal to the desired one. */
  readonly converged: boolean;
  readonly anyUsableUplink: boolean;
  /** The hotspot, when the policy may raise one. */
  readonly hotspot?: { readonly up: boolean; readonly clients: number; readonly problem?: string };
}

export const CONDITION_TYPES: readonly ConditionType[] = ["Ready", "Reconciling", "Stalled"];

const SUCCESS: ReadonlySet<PassOutcome> = new Set(["no-change", "applied"]);

export const passSucceeded = (p: PassRecord): boolean => SUCCESS.has(p.outcome);

type Derived = Omit<Condition, "lastTransitionTime">;

const plural = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;

function failureText(f: ConditionFacts): string {
  const n = Math.max(f.consecutiveFailures, 1);
  const err = f.lastPass?.error;
  return `${plural(n, "pass", "passes")} in a row did not succeed${err !== undefined ? `: ${err}` : ""}`;
}

function rejectedText(errors: readonly string[]): string {
  const first = errors[0] ?? "no detail";
  const more = errors.length > 1 ? ` (and ${plural(errors.length - 1, "more error", "more errors")})` : "";
  return `${first}${more}`;
}

function ready(f: ConditionFacts, failing: boolean): Derived {
  const no = (reason: string, message: string): Derived => ({
    type: "Ready",
    status: "False",
    reason,
    message,
  });
  if (f.lastPass === undefined)
    return no("Starting", f.passInFlight ? "the first pass is running" : "no pass has run yet");
  const hs = f.hotspot;
  const serving =
    hs?.up === true && hs.problem === undefined
      ? `; the hotspot serves ${plural(hs.clients, "client", "clients")}`
      : "";
  if (!f.anyUsableUplink)
    return no(
      "NoUsableUplink",
      `no uplink is usable: the policy's behaviour for that case is in force${serving}${hs?.problem === undefined ? "" : `; ${hs.problem}`}`,
    );
  if (failing) return no("PassFailing", `${failureText(f)}; retrying with backoff`);
  if (!f.converged)
    return no("NotConverged", "the last pass left the kernel different from the desired state");
  if (hs?.problem !== undefined) return no("HotspotNotServing", hs.problem);
  const refused = f.policyRejected
    ? "; an edit of the policy was refused, the last good policy stays in force"
    : "";
  return {
    type: "Ready",
    status: "True",
    reason: "Converged",
    message: `the kernel matches the policy${serving}${refused}`,
  };
}

function reconciling(f: ConditionFacts, failing: boolean): Derived {
  const yes = (reason: string, message: string): Derived => ({
    type: "Reconciling",
    status: "True",
    reason,
    message,
  });
  if (failing)
    return yes(
      "Retrying",
      `${failureText(f)}; ${f.passInFlight ? "retrying now" : "the next try waits for the backoff"}`,
    );
  if (f.passInFlight) return yes("Applying", "a pass is running");
  if (f.lastPass === undefined || !f.converged)
    return yes("Pending", "the kernel differs from the desired state; a pass is due");
  return { type: "Reconciling", status: "False", reason: "Idle", message: "waiting for the next trigger" };
}

function stalled(previous: Condition | undefined, f: ConditionFacts): Derived {
  const yes = (reason: string, message: string): Derived => ({
    type: "Stalled",
    status: "True",
    reason,
    message,
  });
  const policyNote = f.policyRejected
    ? `; also, the policy on disk is invalid: ${rejectedText(f.policyRejected.errors)}`
    : "";
  // A failed rollback leaves part of a change in the kernel: that stays true until a pass succeeds,
  // whatever the passes in between say.
  if (f.lastPass?.outcome === "rollback-failed")
    return yes(
      "RollbackFailed",
      `a failed change could not be rolled back${f.lastPass.error !== undefined ? `: ${f.lastPass.error}` : ""}; the kernel may hold part of it until a pass succeeds${policyNote}`,
    );
  if (
    previous?.status === "True" &&
    previous.reason === "RollbackFailed" &&
    (f.lastPass === undefined || !passSucceeded(f.lastPass))
  )
    return yes(
      "RollbackFailed",
      `a change could not be rolled back and no pass has succeeded since; the kernel may hold part of it${policyNote}`,
    );
  if (f.policyRejected)
    return yes(
      "PolicyInvalid",
      `the policy on disk is invalid: ${rejectedText(f.policyRejected.errors)}; the last good policy stays in force until the file is fixed`,
    );
  return { type: "Stalled", status: "False", reason: "AsExpected", message: "" };
}

/**
 * Ready, Reconciling and Stalled (in that order) for the facts at `now`. Each keeps the
 * lastTransitionTime of its namesake in `previous` when status and reason are unchanged.
 */
export function deriveConditions(
  previous: readonly Condition[],
  facts: ConditionFacts,
  now: Date,
): Condition[] {
  const prev = (t: ConditionType) => previous.find((c) => c.type === t);
  const failing =
    facts.consecutiveFailures > 0 || (facts.lastPass !== undefined && !passSucceeded(facts.lastPass));
  const derived = [ready(facts, failing), reconciling(facts, failing), stalled(prev("Stalled"), facts)];
  return derived.map((d) => {
    const p = prev(d.type);
    const same = p !== undefined && p.status === d.status && p.reason === d.reason;
    return { ...d, lastTransitionTime: same ? p.lastTransitionTime : now.toISOString() };
  });
}
