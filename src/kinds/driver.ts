// What a kind of kernel object is, in one place: its identity, ownership, observation, comparison,
// ordering, rendering to commands, inverse, description and its part in cleanup. Every kind has one
// driver (one file under kinds/), and the registry (registry.ts) lists them, typed over every kind
// name, so a kind that lacks a part does not compile. The diff, plan, apply, show, explain and cleanup
// machinery asks the driver; nothing else knows what a kind is.
import { plainEqual } from "../util/canonical.js";
import type { Family } from "../util/prefix.js";
import type { Ownership } from "./ownership.js";
import type { RawObservation } from "./raw.js";

export type { Family };

/** Every record has a kind: the registry's key for it. */
export interface KindRecord {
  readonly kind: string;
}

/** An op on objects of one kind. */
export type OpOn<T> =
  | { readonly op: "add"; readonly after: T }
  | { readonly op: "change"; readonly before: T; readonly after: T }
  | { readonly op: "delete"; readonly before: T };

/**
 * The tools that speak to the kernel, and what one op's command is for each (one element per line of a
 * batch). Each tool has one runner (effects/apply/execute.ts) that runs a batch of such lines.
 */
export interface ToolLine {
  /** A line of `ip -4|-6 -batch -`; family undefined for family-neutral lines (links). */
  readonly ip: { readonly family?: Family; readonly text: string };
  /** A line of `tc -batch -`. */
  readonly tc: string;
  /** A command of an nft JSON batch (`{"add": {...}}`), one transaction per batch. */
  readonly nft: unknown;
  /** A write to /proc/sys. */
  readonly sysctl: { readonly name: string; readonly value: string };
  /** Start or stop a process of ours (effects/apply/services.ts). */
  readonly service: ServiceLine;
  /** A line of a `conntrack -R FILE` batch (a delete of tracked flows). */
  readonly conntrack: string;
}

/**
 * One service op. Start runs `argv` (never through a shell) detached, its output to `logFile`, and
 * waits for it to be ready: its pid file written (by the program, or by backhaul for one that writes
 * none), and its control socket there when it has one. Stop signals the process `pidFile` names only
 * when its command line is exactly `argv`, so nothing that is not ours is ever signalled. Reload
 * rewrites the program's files and signals it to read them again (SIGHUP), keeping it running.
 */
export type ServiceLine =
  | {
      readonly action: "start";
      /** For people: "DHCP client on usb0". */
      readonly label: string;
      readonly argv: readonly string[];
      readonly pidFile: string;
      readonly logFile: string;
      /** Files of ours the program reads, written before it starts. */
      readonly prepare?: ServicePrepare;
      /** The program writes no pid file: backhaul records the child's, once this socket exists. */
      readonly ready?: { readonly socket: string };
    }
  | {
      readonly action: "stop";
      readonly label: string;
      readonly argv: readonly string[];
      readonly pidFile: string;
      /** Files that go with the process (the ones that hold its secrets). */
      readonly remove?: readonly string[];
    }
  | {
      readonly action: "reload";
      readonly label: string;
      readonly argv: readonly string[];
      readonly pidFile: string;
      readonly prepare: Extract<ServicePrepare, { kind: "hostapd" }>;
      /** Put back the file the last reload replaced (a rollback), instead of writing a new one. */
      readonly restore: boolean;
    };

/**
 * The files a service runs on: udhcpc's lease hook, or hostapd's configuration, whose credentials
 * are read from their files when it is written (the op itself carries none).
 */
export type ServicePrepare =
  | { readonly kind: "dhcp"; readonly path: string }
  | {
      readonly kind: "hostapd";
      readonly conf: string;
      readonly ctrlDir: string;
      readonly wpaPsk: string;
      readonly tokens: string;
      readonly iface: string;
      /** The settings lines (credentials are added when the file is written). */
      readonly config: readonly string[];
      readonly security: "open" | "wpa2" | "wpa3" | "wpa2-wpa3";
      readonly passphraseFile?: string;
      /** The passphrase file is backhaul's: created (0600, from a secure source) when missing. */
      readonly generate?: boolean;
    };
export type Tool = keyof ToolLine;

/** How one kind's ops become lines of one tool (a union over tools, so the executor narrows on `tool`). */
export type CommandOf<T> = {
  readonly [U in Tool]: {
    readonly tool: U;
    render(op: OpOn<T>, ctx: RenderContext): readonly ToolLine[U][];
  };
}[Tool];

/** What rendering one op may need to know about the rest of its plan. */
export interface RenderContext {
  /** Devices whose root qdisc the plan deletes or replaces: the tree under it goes with it. */
  readonly replacedRoots: ReadonlySet<string>;
}

/** What disruption classification knows about the state right before an op. */
export interface DisruptionFacts {
  /** A rule points at this table ("family table"). */
  readonly referenced: (family: Family, table: number) => boolean;
  /** A catch-all rule points at this table. */
  readonly catchAll: (family: Family, table: number) => boolean;
}

/** Disruption classes, mildest first (see core/plan/disruption.ts). */
export const DISRUPTIONS = ["none", "in-place", "traffic-switch", "flap", "management-path"] as const;
export type Disruption = (typeof DISRUPTIONS)[number];

/**
 * Where an object sits in the routing scheme or the policy, in the terms the core's explain and
 * reasons understand (one kind-neutral vocabulary instead of per-kind cases there).
 */
export interface PolicyRef {
  /** The routing table it lives in (routes). */
  readonly table?: number;
  /** The rule priority it takes, and the table it looks up (rules). */
  readonly priority?: number;
  readonly lookup?: number;
  /** The address family of a table or a lookup. */
  readonly family?: Family;
  /** Every packet matches it (a rule without selectors): where general traffic goes. */
  readonly catchAll?: true;
  /** The interface it belongs to (per-interface sysctls, services, links). */
  readonly iface?: string;
  /** A global setting it is (sysctls). */
  readonly setting?: string;
  /** Traffic control: the device, and the class it stands for or classifies into. */
  readonly qos?: { readonly dev: string; readonly classid?: string };
  /** Our nftables table. */
  readonly nft?: true;
  /** It exists for the uplink's addressing (its DHCP client). */
  readonly addressing?: true;
  /** Flows the kernel tracks through this interface (deleted when it stops carrying general traffic). */
  readonly flows?: true;
  /** Part of the routing scheme (rules and routes): a delete of one is "not part of the scheme". */
  readonly routing?: true;
  /**
   * The hotspot settings the object stands for, as policy pointers ("/hotspot/dhcp"), each with the
   * value it has in this object when one can be compared ("/hotspot/ssid=edge"): a change is explained
   * by the settings whose values differ.
   */
  readonly hotspot?: readonly string[];
}

/** A section of `backhaul show`'s human output. */
export interface ShowSection {
  readonly title: string;
  readonly lines: readonly string[];
}

/** What the show view knows when it selects and renders a kind's objects. */
export interface ShowContext<S> {
  /** The whole (selected) state: a kind may render others with it (addresses with links). */
  readonly state: S;
  /** Links worth showing (those that could be an uplink or a hotspot). */
  readonly links: ReadonlySet<string>;
  readonly netns?: string;
}

/** The driver of one kind. S is the whole-state type, so show can render related kinds together. */
export interface KindDriver<T extends KindRecord, S = unknown> {
  readonly kind: T["kind"];
  /** Identity within the kind: two objects with the same key cannot both exist in the kernel. */
  key(o: T): string;
  /** A number every key contains (a cheap prefilter when matching foreign objects), if any. */
  readonly bucket?: (o: T) => number;
  /** True when backhaul owns this object and may change or delete it. */
  owned(o: T, own: Ownership): boolean;
  /** Parse and normalize this kind's objects from one observation's raw readings (pure, never throws). */
  observe(raw: RawObservation): T[];
  /** The readings observe needs (the reader reads only those of the kinds wanted). */
  readonly sources: readonly RawSource[];
  /** Structural equality of two normalized objects. */
  equal(a: T, b: T): boolean;
  /**
   * The kernel changes it in place under the same key; otherwise a change is delete + add. A kind
   * whose objects change in place only for some differences decides per pair.
   */
  readonly inPlace: boolean | ((before: T, after: T) => boolean);
  /** May an owned object that is no longer desired be deleted (links and sysctls are only managed)? */
  deletable(o: T): boolean;
  /** Place in the build order (teardown runs in reverse): lower builds first. */
  readonly rank: number;
  /** The key of the object of the same kind this one sits under, if any: deleted children go first. */
  readonly parentKey?: (o: T) => string | undefined;
  /** The tool its ops run through, and one op's lines for it. Throws RenderError on an invalid value. */
  readonly command: CommandOf<T>;
  /** The op that undoes this one. */
  inverse(op: OpOn<T>): OpOn<T>;
  /** One line for people (plans, show, --explain, logs): "default via 100.64.1.1 dev eth0 table 101". */
  describe(o: T): string;
  /** What an op does to traffic, judged on the state right before it. */
  disruption(op: OpOn<T>, facts: DisruptionFacts): Disruption;
  /** Can this object change which route a destination takes? */
  affectsLookup(o: T, dst: string): boolean;
  /** The logical object an add and a delete of one change share (a rule's priority, a route's prefix). */
  slot(o: T): string;
  /** Where the object sits in the scheme and the policy (for --explain and plan reasons). */
  policyRef(o: T): PolicyRef;
  /** `backhaul show`: whether an object is worth showing by default, and its sections. */
  readonly show: {
    /** Where its sections appear among the kinds' (lower first). */
    readonly place: number;
    keep(o: T, ctx: ShowContext<S>): boolean;
    sections(objects: readonly T[], ctx: ShowContext<S>): ShowSection[];
  };
  /** `run --cleanup-on-exit`: remove what is ours of this kind, or leave it (its earlier value is unknown). */
  readonly cleanup: "remove" | "keep";
  /**
   * A process of ours the daemon supervises: its pid as observed (undefined when it is not running)
   * and the interface it serves. One that exits is drift, started again by a pass (daemon/service-watch.ts).
   */
  readonly supervision?: {
    pid(o: T): number | undefined;
    iface(o: T): string;
    /** The clients it serves, for a server (the hotspot's leases). */
    clients?(o: T): readonly ServiceClient[];
    /** What the program says of itself, when it says (hostapd's interface state: ENABLED). */
    state?(o: T): string | undefined;
  };
  /**
   * Traffic makes these objects, not backhaul (tracked flows): a plan may delete them, but they come and
   * go on their own, so verification and drift leave them out, and a rollback cannot bring back what
   * was deleted (it leaves the kind as the kernel holds it).
   */
  readonly transient?: true;
  /**
   * What starting this object brings about, when that differs from the object (a service's files
   * are written afresh at its start): what a restore after a crash can aim for when it is gone.
   */
  readonly startsAs?: (o: T) => T;
  /**
   * Its ops bear on no route (the hotspot's services): the daemon applies them in a transaction of
   * their own after the rest, so one that cannot start never holds back a failover.
   */
  readonly independent?: true;
}

/** A client a service of ours serves (a lease of the hotspot's DHCP server). */
export interface ServiceClient {
  readonly mac: string;
  readonly address: string;
  /** Epoch seconds; 0 for an infinite lease. */
  readonly expires: number;
  readonly hostname?: string;
}

/** Readings an observation can make; each driver names those it parses. */
export type RawSource =
  | "ip-address"
  | "ip-rule"
  | "ip-route"
  | "sysfs"
  | "tc"
  /** Classes and filters of the devices whose root qdisc has a tree. */
  | "tc-tree"
  | "nft"
  /** hostapd's control sockets under the state directory. */
  | "hostapd-ctrl"
  /** Pid files of our services under the state directory. */
  | "service-pids"
  /** `conntrack -L`: the flows the kernel source-NAT'ed. */
  | "conntrack";

/** The parts most kinds share: structural equality, the add ↔ delete inverse, deletable once not desired. */
export const COMMON_PARTS = {
  equal: plainEqual,
  inverse: invert,
  deletable: (): boolean => true,
} as const;

/** The inverse most kinds have: add ↔ delete, a change swapped. */
export function invert<T>(op: OpOn<T>): OpOn<T> {
  switch (op.op) {
    case "add":
      return { op: "delete", before: op.after };
    case "delete":
      return { op: "add", after: op.before };
    case "change":
      return { op: "change", before: op.after, after: op.before };
  }
}

export class RenderError extends Error {
  override name = "RenderError";
}
