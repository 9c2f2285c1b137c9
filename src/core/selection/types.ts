// Plain inputs and outputs of uplink selection. The policy loader's EffectivePolicy, the prober and the
// usage ledger are mapped onto these by the caller, so selection stays a pure function of plain data.
import type { LinkClass } from "../../kinds/types.js";

export type HealthState = "probing" | "up" | "degraded" | "down";

/** What the prober knows about one uplink. */
export interface Health {
  readonly state: HealthState;
  /** Epoch milliseconds when the uplink entered this state. */
  readonly since: number;
  readonly rttMs?: number;
  /** 0..100 */
  readonly lossPct?: number;
  /** 0..1: share of successful probes in the window. */
  readonly successRate?: number;
  /** Why it is in this state, for people: "carrier lost", "3 probes timed out". */
  readonly reason?: string;
}

/** Data used by a metered uplink in its current budget period. */
export interface Usage {
  readonly usedBytes: number;
  readonly budgetBytes?: number;
  /** The ledger's verdict: the budget is spent. */
  readonly exhausted: boolean;
}

/**
 * normal: selected by score; emergency-only: only when no normal uplink is usable;
 * never: backhaul installs nothing for it.
 */
export type UplinkUse = "normal" | "emergency-only" | "never";

export interface UplinkSpec {
  /** The policy's name for the uplink (often the interface name). */
  readonly name: string;
  readonly iface: string;
  readonly class: LinkClass;
  /** Overrides the class bias of SelectionParams.classBias. */
  readonly bias?: number;
  readonly use: UplinkUse;
  /** "auto": discovered from the main table or our DHCP lease; otherwise a literal gateway address. */
  readonly gateway: "auto" | string;
  /** IPv6 gateway when not auto-discovered; absent means "auto". */
  readonly gateway6?: "auto" | string;
  readonly metered: boolean;
  /** What a metered uplink becomes once its budget is spent (absent: emergency-only). */
  readonly onExhausted?: "emergency-only" | "never" | "keep";
  /** Pins the uplink's routing table; by default tables follow the uplink's position in the policy. */
  readonly table?: number;
}

export interface ScoreWeights {
  readonly latency: number;
  readonly loss: number;
  readonly success: number;
}

export interface SelectionParams {
  readonly strategy: "failover" | "balance";
  readonly weights: ScoreWeights;
  /** RTT at or above which the latency component is 0. */
  readonly maxRttMs: number;
  /** Loss at or above which the loss component is 0. */
  readonly maxLossPct: number;
  readonly classBias: Readonly<Record<LinkClass, number>>;
  readonly biasMultiplier: number;
  /** A better uplink must beat the active one by this many points before traffic switches. */
  readonly switchMargin: number;
  /** A usable uplink whose score falls below this stops being usable. */
  readonly failThreshold: number;
  /** An unusable uplink must reach this score to become usable again (>= failThreshold). */
  readonly recoverThreshold: number;
  /** What to do with the active default route when no uplink is usable. */
  readonly whenNoneUsable: "keep-last" | "withdraw";
}

/** What the previous pass decided: input for hysteresis. */
export interface PreviousSelection {
  /** Uplinks that carried general traffic, with their multipath weight and score then. */
  readonly active: readonly { readonly name: string; readonly weight: number; readonly score: number }[];
  /** Uplinks that were usable. */
  readonly usable: readonly string[];
}

export interface ScoreBreakdown {
  readonly total: number;
  readonly latency: number;
  readonly loss: number;
  readonly success: number;
  readonly bias: number;
}

/** One uplink's address and gateway in one family: what its table and source rule are built from. */
export interface Attachment {
  readonly family: 4 | 6;
  /** The uplink's address with its prefix length: "198.51.100.2/24". */
  readonly address: string;
  readonly gateway: string;
  /** The gateway is outside every connected prefix of the interface: the route needs `onlink`. */
  readonly onlink: boolean;
  /** Where the gateway came from, for reasons: "main table", "DHCP lease", "policy". */
  readonly gatewaySource: "main table" | "DHCP lease" | "policy";
}

/** A DHCP lease backhaul's own client holds. */
export type Tier = "primary" | "fallback";

export interface UplinkVerdict {
  readonly name: string;
  readonly iface: string;
  /** Has an address and gateway on a live link in at least one family: gets its table and source rule. */
  readonly attached: boolean;
  /** May carry general traffic. */
  readonly usable: boolean;
  /** primary: normal use; fallback: emergency-only or over budget. */
  readonly tier?: Tier;
  readonly score?: ScoreBreakdown;
  readonly attachments: readonly Attachment[];
  /** Why, for people: "down since 12:03:41, carrier lost". */
  readonly reason: string;
}

export interface ActiveUplink {
  readonly name: string;
  /** Multipath weight 1..256 (always 1 for failover). */
  readonly weight: number;
}

export interface Selection {
  readonly strategy: SelectionParams["strategy"];
  /** Uplinks carrying general traffic, best first. Empty when nothing is usable. */
  readonly active: readonly ActiveUplink[];
  /** All usable uplinks, best first (the active ones lead). */
  readonly ranked: readonly string[];
  readonly verdicts: readonly UplinkVerdict[];
  /** Set when nothing is usable: the policy's choice for the active default route. */
  readonly noneUsable?: SelectionParams["whenNoneUsable"];
  /** The active set differs from the previous pass. */
  readonly switched: boolean;
  /** The decision in one sentence: "wwan0 chosen: eth0 down since 12:03:41, carrier lost". */
  readonly reason: string;
  /** The decision's grounds alone: "eth0 down since 12:03:41, carrier lost". */
  readonly why: string;
}
