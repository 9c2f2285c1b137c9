// What the running daemon says about itself: one plain snapshot, served over the status socket
// (`backhaul status`), turned into Prometheus metrics, and built by the loop after every pass.
// Conditions follow the Kubernetes controller conventions operators already read.
import type { ServiceStatus } from "./service-watch.js";
import type { HotspotStatus } from "./hotspot-status.js";
import type { SwitchCause } from "../core/decide/switching.js";
import type { PassOutcome } from "../core/decide/daemon-step.js";
import type { HealthState } from "../core/health/state-machine.js";

export type { PassOutcome, SwitchCause };

export const STATUS_FORMAT = "1.0";

export type ConditionType = "Ready" | "Reconciling" | "Stalled";

export interface Condition {
  readonly type: ConditionType;
  readonly status: "True" | "False" | "Unknown";
  /** One CamelCase word: "Converged", "Applying", "PolicyInvalid", "PassFailing". */
  readonly reason: string;
  readonly message: string;
  /** ISO time the status last changed. */
  readonly lastTransitionTime: string;
}

export interface UsageStatus {
  readonly usedBytes: number;
  readonly budgetBytes: number;
  /** Bytes of the daemon's own probes in this period (part of usedBytes). */
  readonly probeBytes: number;
  readonly periodStart: string;
  readonly periodEnd: string;
  readonly exhausted: boolean;
}

export interface UplinkStatus {
  readonly name: string;
  readonly iface: string;
  readonly state: HealthState;
  /** ISO time the uplink entered its state. */
  readonly since: string;
  readonly reason: string;
  readonly active: boolean;
  readonly usable: boolean;
  readonly score?: number;
  /** Smoothed probe round-trip time. */
  readonly rttMs?: number;
  readonly lossPct?: number;
  readonly usage?: UsageStatus;
}

export interface PassRecord {
  readonly startedAt: string;
  /** The whole pass, its observation included (the fast path has none: it starts at the event). */
  readonly durationMs: number;
  /** A full pass: how long observing the kernel took (part of durationMs). */
  readonly observeMs?: number;
  /** What asked for the pass ("link eth0", "health fibre up→degraded", "policy", "periodic"). */
  readonly triggers: readonly string[];
  /** "fast" is the carrier-loss path: the cached observation patched with the event. */
  readonly path: "full" | "fast";
  readonly outcome: PassOutcome;
  readonly ops: number;
  /** From the start of the pass to the kernel holding the change (verification comes after). */
  readonly writtenAfterMs?: number;
  readonly error?: string;
  /** Drifted objects of ours the pass put back. */
  readonly healed?: number;
  /** A fast pass that sent the carrier-loss plan made ahead of the event. */
  readonly prepared?: true;
  readonly switched?: {
    readonly from: readonly string[];
    readonly to: readonly string[];
    readonly cause: SwitchCause;
    readonly reason: string;
  };
}

export interface PolicyStatus {
  readonly path: string;
  /** Digest of the policy in force (the observed generation). */
  readonly digest: string;
  readonly loadedAt: string;
  /** The last edit that was refused, with file:line:col; absent when the file on disk is the one in force. */
  readonly rejected?: { readonly at: string; readonly errors: readonly string[] };
}

export interface DaemonStatus {
  readonly formatVersion: typeof STATUS_FORMAT;
  readonly pid: number;
  readonly startedAt: string;
  /** The namespace the daemon manages; null: the host. */
  readonly netns: string | null;
  readonly policy: PolicyStatus;
  readonly active: { readonly uplinks: readonly string[]; readonly reason: string };
  readonly uplinks: readonly UplinkStatus[];
  readonly conditions: readonly Condition[];
  /** The ops of the last pass that changed the kernel, for people. */
  readonly lastPlan?: { readonly at: string; readonly ops: readonly string[] };
  readonly lastError?: { readonly at: string; readonly message: string };
  /** The last 10 passes, newest last. */
  readonly passes: readonly PassRecord[];
  readonly switches: {
    readonly total: number;
    readonly byCause: Readonly<Partial<Record<SwitchCause, number>>>;
  };
  readonly lastSuccessfulPassAt?: string;
  /** Our services (DHCP clients): running or not, and how often they exited. */
  readonly services?: readonly ServiceStatus[];
  /** The hotspot, when the policy may raise one: up or down and why, serving, clients, passphrase age. */
  readonly hotspot?: HotspotStatus;
}
