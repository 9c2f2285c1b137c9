// The effective policy: what a policy file means once loaded, validated and completed with the schema's
// defaults. Keys are the policy file's keys (so a JSON pointer into this value is also a pointer into the
// YAML, see positionOf), values are converted: durations in milliseconds, sizes in bytes, rates in bit/s,
// percentages as numbers 0..100. schemas/policy.schema.json describes every key.
import type { DiagnosticCode } from "./catalogue.js";

/** Milliseconds. */
export type Millis = number;
/** Bytes. */
export type Bytes = number;
/** Bits per second. */
export type BitsPerSecond = number;
/** A percentage, 0..100. */
export type Percent = number;

export const UPLINK_KINDS = ["ethernet", "wifi", "lte", "usb-tether", "bt-pan"] as const;
export type UplinkKind = (typeof UPLINK_KINDS)[number];

export type Addressing = "external" | "static" | "dhcp";
export type UplinkUse = "normal" | "emergency-only" | "never";
export type MeteredPeriod = "daily" | "weekly" | "monthly";
export type OnExhausted = "emergency-only" | "never" | "keep";

export interface Metered {
  readonly budget: Bytes;
  readonly period: MeteredPeriod;
  /** monthly: day of month 1..28; weekly: ISO weekday 1 (Monday)..7; daily: unused (1). */
  readonly resetDay: number;
  readonly onExhausted: OnExhausted;
}

export interface UplinkMatch {
  readonly kind?: UplinkKind;
  /** A glob over interface names: `*` any run of characters, `?` one character. */
  readonly name?: string;
  /** The device's bound driver (sysfs DRIVER=). */
  readonly driver?: string;
}

interface UplinkCommon {
  readonly name: string;
  /** Absent: detected from sysfs at run time. */
  readonly kind?: UplinkKind;
  /** "auto" (from DHCP or the main table) or an address. */
  readonly gateway: "auto" | string;
  readonly addressing: Addressing;
  /** CIDR host address ("100.64.1.2/24"), only with addressing "static". */
  readonly address?: string;
  /** Preference bias added to the score. Absent only when the kind is detected at run time
   * (then selection.biasByKind of the detected kind applies). */
  readonly bias?: number;
  readonly use: UplinkUse;
  /** Nexthop weight for the balance strategy, 1..256. */
  readonly weight: number;
  readonly metered?: Metered;
}

/** An uplink names its interface, or matches one by kind and name pattern: never both. */
export type Uplink =
  | (UplinkCommon & { readonly interface: string; readonly match?: undefined })
  | (UplinkCommon & { readonly interface?: undefined; readonly match: UplinkMatch });

export type ProbeTarget =
  | { readonly type: "tcp"; readonly url: string; readonly host: string; readonly port: number }
  | {
      readonly type: "http" | "https";
      readonly url: string;
      readonly host: string;
      readonly port: number;
      /** Path and query, starting with "/". */
      readonly path: string;
      readonly expectStatus: number;
    }
  | {
      readonly type: "dns";
      readonly url: string;
      /** The resolver to ask (an IP address). */
      readonly host: string;
      readonly port: number;
      /** The name to resolve. */
      readonly name: string;
    }
  | { readonly type: "icmp"; readonly url: string; readonly host: string };

export interface HoldDown {
  readonly upToDegraded: Millis;
  readonly degradedToDown: Millis;
  readonly downToProbing: Millis;
  readonly probingToUp: Millis;
}

export interface Probes {
  readonly targets: readonly ProbeTarget[];
  /** How many targets must answer for a round to count as a success. */
  readonly quorum: number;
  readonly interval: Millis;
  readonly timeout: Millis;
  /** Random delay 0..jitter added to each round. */
  readonly jitter: Millis;
  readonly failuresBeforeDegraded: number;
  readonly failuresBeforeDown: number;
  readonly successesToRecover: number;
  /** Round-trip time above which an uplink counts as degraded. */
  readonly degradedRtt: Millis;
  /** Loss over the last lossWindow rounds above which an uplink counts as degraded. */
  readonly degradedLoss: Percent;
  /** The stricter RTT and loss an uplink must meet again to count as recovered (hysteresis). */
  readonly recoverRtt: Millis;
  readonly recoverLoss: Percent;
  readonly lossWindow: number;
  readonly holdDown: HoldDown;
  readonly minStateDuration: Millis;
  /** The interval is multiplied by this while the node runs on battery. */
  readonly batteryFactor: number;
  /** The interval is multiplied by this on metered uplinks. */
  readonly meteredFactor: number;
}

export type Strategy = "failover" | "balance";
export type NoUsableUplink = "keep-last" | "withdraw";

export interface Selection {
  readonly strategy: Strategy;
  readonly weights: { readonly latency: number; readonly loss: number; readonly success: number };
  readonly maxRtt: Millis;
  readonly maxLoss: Percent;
  readonly biasByKind: { readonly [K in UplinkKind]: number };
  readonly biasMultiplier: number;
  /** A candidate must beat the active uplink's score by this much to take over. */
  readonly switchMargin: number;
  /** Score thresholds: an uplink below `fail` is unusable; it is usable again at `recover` or above. */
  readonly thresholds: { readonly fail: number; readonly recover: number };
  /** At most `switches` switches of the active uplink within `window`. */
  readonly rateLimit: { readonly switches: number; readonly window: Millis };
  readonly noUsableUplink: NoUsableUplink;
}

export type RpFilter = "loose" | "strict" | "off" | "unchanged";

export interface Range {
  readonly min: number;
  readonly max: number;
}

export interface Routing {
  readonly tables: Range;
  readonly priorities: Range;
  /** Route protocol number marking our routes and rules. */
  readonly protocol: number;
  /** Name of our nftables table (family inet). */
  readonly nftTable: string;
  readonly rpFilter: RpFilter;
}

export type HotspotActivate = "when-no-uplink" | "always" | "never";
export type HotspotSecurity = "open" | "wpa2" | "wpa3" | "wpa2-wpa3";
export type Pmf = "disabled" | "optional" | "required";

export interface Hotspot {
  readonly interface: string;
  readonly activate: HotspotActivate;
  /**
   * For `when-no-uplink`: how long no uplink must have been usable before the hotspot comes up (raise),
   * and how long an uplink must have been usable before it goes down again (lower).
   */
  readonly holdDown: { readonly raise: Millis; readonly lower: Millis };
  /** "nl80211" for a radio; "wired" for a lab without one. */
  readonly driver: "nl80211" | "wired";
  /** Also listed as an uplink's interface, on purpose. */
  readonly shareInterface: boolean;
  readonly ssid: string;
  readonly country?: string;
  readonly channel: number;
  readonly security: HotspotSecurity;
  /** Protected management frames; derived from security when not given. */
  readonly pmf: Pmf;
  readonly passphraseFile?: string;
  /** Passphrase rotation interval; null: never rotated. */
  readonly rotation: Millis | null;
  readonly onboardingToken: Millis;
  readonly clientIsolation: boolean;
  readonly maxClients: number;
  /** The node's address on the hotspot, CIDR ("192.168.50.1/24"). */
  readonly address: string;
  readonly dhcp: { readonly start: string; readonly end: string; readonly lease: Millis };
  readonly nat: boolean;
}

export interface QosClass {
  readonly rate: BitsPerSecond;
  readonly ceil: BitsPerSecond;
  /** HTB priority, 0 (first) .. 7. */
  readonly priority: number;
  readonly dscp?: number;
  readonly ports: readonly number[];
}

export interface QosInterface {
  readonly interface: string;
  readonly rate: BitsPerSecond;
  readonly defaultClass: string;
  readonly classes: { readonly [name: string]: QosClass };
}

export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace";

export interface Daemon {
  readonly stateDir: string;
  /** host:port of the Prometheus endpoint. */
  readonly metricsListen: string;
  readonly statusSocket: string;
  /** Period of the daemon's safety-net pass. */
  readonly resyncInterval: Millis;
  readonly logLevel: LogLevel;
  readonly drift: {
    /** Put drifted objects of ours back (false: only report them). */
    readonly heal: boolean;
    /** Where new drift reports are POSTed. */
    readonly webhook?: string;
  };
}

export interface EffectivePolicy {
  readonly version: 1;
  readonly uplinks: readonly Uplink[];
  readonly probes: Probes;
  readonly selection: Selection;
  readonly routing: Routing;
  /** Absent: no hotspot. */
  readonly hotspot?: Hotspot;
  readonly qos: readonly QosInterface[];
  readonly daemon: Daemon;
}

/** A place in a policy file. Lines and columns count from 1; offset is the character offset from 0. */
export interface Position {
  readonly line: number;
  readonly column: number;
  readonly offset: number;
}

export interface Location {
  readonly file: string;
  readonly start: Position;
  readonly end: Position;
}

/** Where each JSON pointer of the loaded document was written (its value node; keys under `key`). */
export interface SourceMap {
  readonly files: readonly string[];
  readonly entries: ReadonlyMap<string, { readonly value: Location; readonly key?: Location }>;
}

export type Severity = "error" | "warning";

export interface Diagnostic {
  readonly severity: Severity;
  /** A stable identifier from the error catalogue (docs/validate.md), e.g. "unknown-key". */
  readonly code: DiagnosticCode;
  /** One line: what is wrong. */
  readonly summary: string;
  /** What was expected, or how to fix it. */
  readonly detail?: string;
  /** JSON pointer into the merged document ("" is the whole document). */
  readonly pointer: string;
  /** Absent only for problems with no place in a file (a missing path). */
  readonly location?: Location;
}

export type LoadResult =
  | {
      readonly ok: true;
      readonly policy: EffectivePolicy;
      readonly sources: SourceMap;
      /** Warnings only. */
      readonly diagnostics: readonly Diagnostic[];
    }
  | { readonly ok: false; readonly diagnostics: readonly Diagnostic[] };
