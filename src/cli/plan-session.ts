// One planning session for a node, as `plan` and `apply` run it: load the policy, observe the kernel,
// get health, compute the desired state, and plan with every invariant checked on the model kernel.
import type { KernelState } from "../kinds/types.js";
import { observe } from "../effects/observe.js";
import { layoutFor, type Layout } from "../core/plan/desired.js";
import { desiredInputOf, planChecked, type PlanPass } from "../core/reconcile.js";
import { loadPolicy } from "../policy/load.js";
import type { Diagnostic, EffectivePolicy, SourceMap } from "../policy/types.js";
import type { Health } from "../core/selection/types.js";
import { appliedPath, readApplied } from "../effects/state/applied.js";
import { digest } from "../util/canonical.js";
import { fetchStatus, NoDaemonError } from "../daemon/status-client.js";
import { statusSocketPath } from "../daemon/status-server.js";
import { parseAssumeHealth, quickProbe } from "../effects/probe/quick-probe.js";
import { plannerInputs, type PlannerInputs } from "../core/plan/inputs.js";
import type { RecordedNode } from "../core/recorded-state.js";

export interface PlanNodeOptions {
  readonly policyPath: string;
  /** `--assume-health`: skip probing. */
  readonly assumeHealth?: string;
  /** The operator's SSH peer (from SSH_CONNECTION): ops that move its route are management-path. */
  readonly managementPeer?: string;
  readonly now?: number;
  /** The namespace the node is (for the last-applied record; undefined: the host). */
  readonly netnsName?: string;
  /**
   * Plan against this recorded node state (`plan --against`) instead of the kernel: its namespace is
   * the node's, health is `assumeHealth`'s, and the node's last-applied record is not at hand.
   */
  readonly against?: RecordedNode;
}

export type PlanNodeResult =
  | {
      readonly ok: false;
      readonly stage: "policy";
      readonly diagnostics: readonly Diagnostic[];
      readonly texts: ReadonlyMap<string, string>;
    }
  | {
      readonly ok: true;
      readonly policy: EffectivePolicy;
      readonly sources: SourceMap;
      readonly texts: ReadonlyMap<string, string>;
      readonly policyDigest: string;
      readonly observed: KernelState;
      readonly inputs: PlannerInputs;
      readonly layout: Layout;
      readonly health: Readonly<Record<string, Health>>;
      readonly healthSource: "assumed" | "daemon" | "probed";
      /** Probed health only: uplinks not measurable until this plan builds their own path. */
      readonly unprobed: readonly string[];
      readonly pass: PlanPass;
      /** The recorded node state planned against, if one was. */
      readonly against?: RecordedNode;
    };

/** Health of every uplink from the daemon running for this node, or undefined when none answers. */
async function daemonHealth(
  policy: EffectivePolicy,
  netns: string | undefined,
  names: readonly string[],
): Promise<Record<string, Health> | undefined> {
  let status;
  try {
    status = await fetchStatus(statusSocketPath(policy.daemon.statusSocket, netns));
  } catch (e) {
    if (e instanceof NoDaemonError) return undefined;
    throw e;
  }
  const out: Record<string, Health> = {};
  for (const u of status.uplinks) {
    if (!names.includes(u.name)) continue;
    out[u.name] = {
      state: u.state,
      since: Date.parse(u.since),
      reason: `${u.reason} (from the running daemon)`,
      ...(u.rttMs === undefined ? {} : { rttMs: u.rttMs }),
      ...(u.lossPct === undefined ? {} : { lossPct: u.lossPct, successRate: 1 - u.lossPct / 100 }),
    };
  }
  return out;
}

export async function planNode(o: PlanNodeOptions): Promise<PlanNodeResult> {
  const now = o.now ?? Date.now();
  const loaded = await loadPolicy(o.policyPath);
  if (!loaded.ok) return { ok: false, stage: "policy", diagnostics: loaded.diagnostics, texts: loaded.texts };
  const policy = loaded.policy;
  const against = o.against;
  if (against !== undefined && o.assumeHealth === undefined)
    throw new Error(
      `--against ${against.file}: a recorded node's uplinks cannot be probed from here; say what to assume with --assume-health (up, down, up:NAME,down:NAME, ...)`,
    );
  const netnsName = against === undefined ? o.netnsName : against.netns;
  const observed = against?.observed ?? (await observe({ stateDir: policy.daemon.stateDir }));
  const inputs = plannerInputs(policy, observed, netnsName);
  const layout = layoutFor(inputs.uplinks, inputs.routing);
  const names = inputs.uplinks.map((u) => u.name);
  // Health: assumed when asked; else what a running daemon knows (it has watched the uplinks for a
  // while); else one quick probe round.
  const fromDaemon = o.assumeHealth === undefined ? await daemonHealth(policy, netnsName, names) : undefined;
  const probed =
    o.assumeHealth === undefined && fromDaemon === undefined
      ? await quickProbe(policy, inputs.uplinks, layout, observed, now)
      : undefined;
  const health =
    o.assumeHealth !== undefined
      ? parseAssumeHealth(o.assumeHealth, names, now)
      : (fromDaemon ?? probed!.health);
  const policyDigest = digest(policy);
  const lastApplied =
    against === undefined ? readApplied(appliedPath(policy.daemon.stateDir, netnsName)) : undefined;
  const pass = planChecked(desiredInputOf(inputs, observed, health), inputs, policyDigest, {
    ...(o.managementPeer === undefined ? {} : { managementPeer: o.managementPeer }),
    ...(lastApplied === undefined ? {} : { lastApplied }),
  });
  return {
    ok: true,
    policy,
    sources: loaded.sources,
    texts: loaded.texts,
    policyDigest,
    observed,
    inputs,
    layout,
    health,
    healthSource: o.assumeHealth !== undefined ? "assumed" : fromDaemon !== undefined ? "daemon" : "probed",
    unprobed: probed?.unprobed ?? [],
    pass,
    ...(against === undefined ? {} : { against }),
  };
}
