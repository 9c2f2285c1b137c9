// What the daemon remembers of its passes for people: the last passes, failures in a row, the last
// plan and error, switch counts, a refused policy edit, and the conditions derived from them. Pure
// bookkeeping; the status snapshot (`backhaul status`, metrics) is built from it and the step's state.
import { hotspotProblem, type HotspotStatus } from "./hotspot-status.js";
import type { Op } from "../kinds/types.js";
import { describeOp } from "../kinds/registry.js";
import type { DaemonState } from "../core/decide/daemon-step.js";
import { healthOf } from "../core/health/uplink.js";
import type { Selection } from "../core/selection/types.js";
import { deriveConditions, passSucceeded } from "./conditions.js";
import {
  STATUS_FORMAT,
  type Condition,
  type DaemonStatus,
  type PassRecord,
  type SwitchCause,
  type UplinkStatus,
  type UsageStatus,
} from "./status-model.js";

/** What one pass decided and did, for status, metrics and logs. */
export interface PassReport {
  readonly record: PassRecord;
  readonly selection?: Selection;
  readonly ops: readonly Op[];
}

export interface PassBook {
  /** The last passes, newest last. */
  readonly passes: readonly PassRecord[];
  readonly passInFlight: boolean;
  readonly consecutiveFailures: number;
  /** The last finished pass left the owned kernel state equal to the desired one. */
  readonly converged: boolean;
  readonly conditions: readonly Condition[];
  readonly rejected?: { readonly at: string; readonly errors: readonly string[] };
  readonly lastPlan?: { readonly at: string; readonly ops: readonly string[] };
  readonly lastError?: { readonly at: string; readonly message: string };
  readonly lastSuccessAt?: string;
  readonly switchCounts: Readonly<Partial<Record<SwitchCause, number>>>;
}

const PASS_HISTORY = 10;

export const emptyBook = (): PassBook => ({
  passes: [],
  passInFlight: false,
  consecutiveFailures: 0,
  converged: false,
  conditions: [],
  switchCounts: {},
});

export function bookPass(b: PassBook, r: PassReport, now: Date): PassBook {
  const rec = r.record;
  const ok = passSucceeded(rec);
  const cause = rec.switched?.cause;
  return {
    ...b,
    passes: [...b.passes, rec].slice(-PASS_HISTORY),
    passInFlight: false,
    consecutiveFailures: ok ? 0 : b.consecutiveFailures + 1,
    converged: ok,
    ...(ok
      ? { lastSuccessAt: now.toISOString() }
      : { lastError: { at: rec.startedAt, message: rec.error ?? rec.outcome } }),
    ...(rec.ops > 0 ? { lastPlan: { at: rec.startedAt, ops: r.ops.map(describeOp) } } : {}),
    switchCounts:
      cause === undefined ? b.switchCounts : { ...b.switchCounts, [cause]: (b.switchCounts[cause] ?? 0) + 1 },
  };
}

export interface StatusFacts {
  readonly now: Date;
  readonly policyPath: string;
  readonly netns: string | undefined;
  readonly loadedAt: number;
  readonly usage: Readonly<Record<string, UsageStatus>>;
  /** The hotspot as the daemon's edge sees it (its services, its passphrase's fingerprint). */
  readonly hotspot?: HotspotStatus;
}

/** The status snapshot; the book comes back with the conditions' transition times kept. */
export function statusOf(
  b: PassBook,
  s: DaemonState,
  f: StatusFacts,
): { book: PassBook; status: DaemonStatus } {
  const sel = s.selection;
  const lastPass = b.passes.at(-1);
  const conditions = deriveConditions(
    b.conditions,
    {
      passInFlight: b.passInFlight,
      ...(lastPass === undefined ? {} : { lastPass }),
      consecutiveFailures: b.consecutiveFailures,
      ...(b.rejected === undefined ? {} : { policyRejected: { errors: b.rejected.errors } }),
      converged: b.converged,
      anyUsableUplink: sel?.verdicts.some((v) => v.usable) ?? false,
      ...(f.hotspot === undefined
        ? {}
        : {
            hotspot: {
              up: f.hotspot.up,
              clients: f.hotspot.clients,
              ...(hotspotProblem(f.hotspot) === undefined ? {} : { problem: hotspotProblem(f.hotspot)! }),
            },
          }),
    },
    f.now,
  );
  const active = new Set(sel?.active.map((a) => a.name) ?? []);
  const uplinks = (s.inputs?.uplinks ?? []).map((u): UplinkStatus => {
    const t = s.tracked.get(u.name);
    const v = sel?.verdicts.find((x) => x.name === u.name);
    const h = t === undefined ? undefined : healthOf(t);
    const use = f.usage[u.name];
    return {
      name: u.name,
      iface: u.iface,
      state: t?.machine.state ?? "probing",
      since: new Date(t?.machine.since ?? f.now.getTime()).toISOString(),
      reason: v?.reason ?? t?.machine.reason ?? "not observed yet",
      active: active.has(u.name),
      usable: v?.usable ?? false,
      ...(v?.score === undefined ? {} : { score: v.score.total }),
      ...(h?.rttMs === undefined ? {} : { rttMs: Math.round(h.rttMs * 100) / 100 }),
      ...(h?.lossPct === undefined ? {} : { lossPct: h.lossPct }),
      ...(use === undefined ? {} : { usage: use }),
    };
  });
  const byCause = { ...b.switchCounts };
  const status: DaemonStatus = {
    formatVersion: STATUS_FORMAT,
    pid: process.pid,
    startedAt: new Date(s.startedAt).toISOString(),
    netns: f.netns ?? null,
    policy: {
      path: f.policyPath,
      digest: s.digest,
      loadedAt: new Date(f.loadedAt).toISOString(),
      ...(b.rejected === undefined ? {} : { rejected: b.rejected }),
    },
    active: { uplinks: [...active], reason: sel?.reason ?? "no pass has finished yet" },
    uplinks,
    conditions,
    ...(b.lastPlan === undefined ? {} : { lastPlan: b.lastPlan }),
    ...(b.lastError === undefined ? {} : { lastError: b.lastError }),
    passes: [...b.passes],
    switches: { total: Object.values(byCause).reduce((a, c) => a + c, 0), byCause },
    ...(b.lastSuccessAt === undefined ? {} : { lastSuccessfulPassAt: b.lastSuccessAt }),
    ...(f.hotspot === undefined ? {} : { hotspot: f.hotspot }),
  };
  return { book: { ...b, conditions }, status };
}
