// The daemon's observed state, kept current by the kernel's own events instead of read afresh for every
// pass. Each reading an observation is made of (a RawSource of the kinds' drivers) belongs to a group
// that some event stream covers:
//   address, route, rule   `ip monitor` (the daemon's, whose events come through here); a link event
//                          also covers addresses, routes and rules (the kernel drops IPv4 routes of a
//                          device that goes down without a message for each)
//   facts                  sysfs and /proc/sys: link events, and netconf events (every sysctl we
//                          observe notifies when written); read with the file system in this
//                          process's own namespace (no process), with `find` in another
//   tc                     `tc monitor` and link events
//   nft                    `nft monitor`
//   conntrack              `conntrack -E` (new and ended source-NAT'ed flows)
//   hostapd                one interactive `hostapd_cli` per access point of ours (hostapd-session.ts),
//                          which prints hostapd's events and answers `status` without a new process
// and the pid files are read at every read (the file system only). An event marks its groups
// stale; a read re-reads only the stale ones (ip's through one long-lived `ip -batch` channel per
// family, hostapd's through its session: no process) and parses only the kinds whose readings
// changed. While a group's stream is not listening (starting, dead, restarting after a death) the group is stale at every read, so no read
// ever answers from a cache that may have missed an event. Our own ops mark what they touched
// (touched()), so verification reads what the ops changed. A resync (resync()) reads everything
// afresh, compares it with what the cache holds, counts and reports every disagreement, and the
// kernel wins: the disagreements are the cache's correctness proof, and must never happen.
import { canonicalKind, driver, KIND_NAMES, TRANSIENT_KINDS } from "../kinds/registry.js";
import type { RawSource } from "../kinds/driver.js";
import type { RawObservation } from "../kinds/raw.js";
import type { KernelObject, KernelState, KindName } from "../kinds/types.js";
import { IP_COMMANDS } from "../kinds/raw.js";
import { plainEqual } from "../util/canonical.js";
import { BatchChannel, type ChannelAnswer } from "./batch-channel.js";
import { readHostapd, readConntrack, readDaemons, readFacts, readNft, readTc } from "./observe.js";
import { readFactsDirect } from "./read-facts.js";
import { supervise, type RestartInfo, type Supervised } from "./supervised.js";
import { startMonitor, type MonitorEvent } from "./ip-monitor.js";
import { HostapdSession } from "./hostapd-session.js";
import { hostapdDir, hostapdPaths } from "../kinds/services/hostapd.js";
import { scopeOf } from "../kinds/services/dhcp-client.js";
import { currentNetns } from "./netns.js";

export type Group = "address" | "rule" | "route" | "facts" | "tc" | "nft" | "conntrack" | "hostapd";
const GROUPS: readonly Group[] = ["address", "rule", "route", "facts", "tc", "nft", "conntrack", "hostapd"];

/** The group a reading belongs to; "always" readings are taken at every read. */
const GROUP_OF: Readonly<Record<RawSource, Group | "always">> = {
  "ip-address": "address",
  "ip-rule": "rule",
  "ip-route": "route",
  sysfs: "facts",
  tc: "tc",
  "tc-tree": "tc",
  nft: "nft",
  conntrack: "conntrack",
  "hostapd-ctrl": "hostapd",
  "service-pids": "always",
};

/** The streams: what each covers and how it is started. */
type StreamName = "ip" | "tc" | "nft" | "conntrack" | "hostapd";
const STREAM_ARGV: Readonly<Record<Exclude<StreamName, "ip" | "hostapd">, readonly string[]>> = {
  tc: ["tc", "monitor"],
  nft: ["nft", "monitor"],
  conntrack: ["conntrack", "-E", "-e", "NEW,DESTROY", "-n", "-o", "extended"],
};

/**
 * The groups an ip monitor event makes stale. A link's carrier coming or going changes its addresses'
 * and routes' flags (and the kernel drops IPv4 routes of a device that goes down without a message for
 * each), never its qdiscs or its sysfs and sysctl facts: those change when a device comes, goes, or is
 * set up or down (its first up attaches the default qdisc, with no tc message). `known`: the device's
 * administrative state at its last event, if it had one.
 */
function groupsOfEvent(e: MonitorEvent, known: boolean | undefined): Group[] {
  switch (e.kind) {
    case "link":
      return e.deleted || known !== e.adminUp
        ? ["address", "route", "rule", "tc", "facts"]
        : ["address", "route", "rule"];
    case "netconf":
      return ["facts"];
    case "address":
      return ["address", "route"];
    case "route":
      return ["route"];
    case "rule":
      return ["rule"];
  }
}

export interface CacheMismatch {
  readonly kind: KindName;
  readonly key: string;
  /** What the cache held and what the kernel holds (undefined: none). */
  readonly cached?: KernelObject;
  readonly kernel?: KernelObject;
}

export interface ObserveCacheOptions {
  /** Observe this namespace (tests); the daemon runs inside the namespace it manages. */
  readonly netns?: string;
  /** Where our services keep their pid files (the policy's, which a reload may change). */
  readonly stateDir: () => string;
  /** Every ip monitor event, once the cache took it (the daemon's fast path and pass triggers). */
  readonly onEvent?: (e: MonitorEvent) => void;
  /** Something changed that no ip event says (tc, nft, hostapd): a pass should look. */
  readonly onChange?: (what: string) => void;
  /** A stream was started again after a death: what it missed is read afresh by the next read. */
  readonly onRestart?: (stream: StreamName, info: RestartInfo) => void;
  /** A stream died, printed what it should not, or a handler failed. */
  readonly onError?: (e: Error) => void;
  /** A resync found the cache disagreeing with the kernel (never expected). */
  readonly onMismatch?: (m: CacheMismatch) => void;
}

/** What the cache has done (for tests; disagreements also reach the daemon through onMismatch). */
export interface CacheStats {
  readonly resyncs: number;
  readonly mismatches: Readonly<Partial<Record<KindName, number>>>;
  /** Per stream: restarts after a death. */
  readonly restarts: Readonly<Record<StreamName, number>>;
  /** Per group of readings: how often it was read from the kernel (facts read directly not counted). */
  readonly taken: Readonly<Record<Group, number>>;
}

interface Readings {
  address?: string;
  rule?: { readonly v4: string; readonly v6: string };
  route?: string;
  facts?: string;
  tc?: { readonly qdiscs: string; readonly tree?: NonNullable<RawObservation["tree"]> };
  nft?: string;
  /** undefined inside: no tool or no connection tracking. */
  conntrack?: { readonly out: string | undefined };
  hostapd?: RawObservation["hostapd"];
}

/** A session with one hostapd of ours: a new hostapd (another pid) gets a new session. */
interface ApSession {
  readonly iface: string;
  readonly session: HostapdSession;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * How long a disagreement waits for its event before it counts: the kernel's link watch tells of a
 * carrier change up to a second after the change shows in a read.
 */
const SETTLE_MS = 2000;

export class ObserveCache {
  private readonly readings: Readings = {};
  /** Bumped by every event of a group: a read or resync knows whether one came while it read. */
  private readonly events = new Map<Group, number>(GROUPS.map((g) => [g, 0]));
  private readonly stale = new Set<Group>(GROUPS);
  private readonly versions = new Map<Group, number>(GROUPS.map((g) => [g, 0]));
  private readonly parsed = new Map<KindName, { key: string; objects: readonly KernelObject[] }>();
  private readonly streams = new Map<Exclude<StreamName, "hostapd">, Supervised>();
  private readonly sessions = new Map<string, ApSession>();
  /** Each device's administrative state at its last link event (by ifindex). */
  private readonly adminUp = new Map<number, boolean>();
  /** This process's own namespace: its facts are read with the file system, not a `find`. */
  private readonly ownNamespace: boolean;
  private readonly ip4: BatchChannel;
  private readonly ip6: BatchChannel;
  private stats = {
    resyncs: 0,
    mismatches: {} as Partial<Record<KindName, number>>,
    restarts: { ip: 0, tc: 0, nft: 0, conntrack: 0, hostapd: 0 } as Record<StreamName, number>,
    taken: Object.fromEntries(GROUPS.map((g) => [g, 0])) as Record<Group, number>,
  };
  private readQueue: Promise<unknown> = Promise.resolve();

  constructor(private readonly o: ObserveCacheOptions) {
    this.ownNamespace = o.netns === undefined;
    const netns = o.netns === undefined ? {} : { netns: o.netns };
    this.ip4 = new BatchChannel({ argv: ["ip", "-N", "-j", "-d"], ...netns });
    this.ip6 = new BatchChannel({ argv: ["ip", "-6", "-N", "-j", "-d"], ...netns });
  }

  /**
   * Start the event streams, wait (briefly) until they listen, then read everything: a change made
   * from then on is either in that read or in an event after it.
   */
  async start(): Promise<KernelState> {
    const netns = this.o.netns === undefined ? {} : { netns: this.o.netns };
    const error = (e: Error) => this.o.onError?.(e);
    this.streams.set(
      "ip",
      startMonitor({
        ...netns,
        onEvent: (e) => {
          if (e.kind === "link") {
            this.mark(groupsOfEvent(e, this.adminUp.get(e.ifindex)));
            if (e.deleted) this.adminUp.delete(e.ifindex);
            else this.adminUp.set(e.ifindex, e.adminUp);
          } else this.mark(groupsOfEvent(e, undefined));
          this.o.onEvent?.(e);
        },
        // ip says something on stderr when its socket overflowed: messages were lost.
        onStderr: () => this.mark(["address", "route", "rule", "tc", "facts"]),
        onRestart: (info) => this.restarted("ip", info),
        onError: error,
      }),
    );
    for (const name of ["tc", "nft", "conntrack"] as const) {
      const groups: Group[] = [name];
      this.streams.set(
        name,
        supervise({
          argv: STREAM_ARGV[name],
          ...netns,
          onStdout: () => {
            this.mark(groups);
            if (name !== "conntrack") this.o.onChange?.(`${name} changed`);
          },
          onStderr: () => this.mark(groups),
          onRestart: (info) => this.restarted(name, info),
          onMissing: (message) =>
            error(
              new Error(`${STREAM_ARGV[name].join(" ")}: ${message}; ${name} is read at every pass instead`),
            ),
          onDeath: (reason, afterMs) =>
            error(new Error(`${STREAM_ARGV[name].join(" ")} ${reason}; restarting in ${afterMs} ms`)),
        }),
      );
    }
    const ready = () => [...this.streams.values()].every((s) => s.listening() || s.pid() === undefined);
    for (let i = 0; i < 100 && !ready(); i++) await sleep(10);
    const state = await this.read();
    // The devices there at the start, read in full: a later event of theirs that leaves the
    // administrative state as it was is a carrier change (one the read missed is still seen as one).
    for (const l of state.link) if (!this.adminUp.has(l.index)) this.adminUp.set(l.index, l.adminUp);
    return state;
  }

  async stop(): Promise<void> {
    await Promise.all([
      ...[...this.streams.values()].map((s) => s.stop()),
      ...[...this.sessions.values()].map((s) => s.session.stop()),
    ]);
    this.streams.clear();
    this.sessions.clear();
    await Promise.all([this.ip4.close(), this.ip6.close()]);
  }

  /** Our own ops changed these kinds: what they touched is read again by the next read. */
  touched(kinds: Iterable<KindName>): void {
    this.mark([...new Set([...kinds].flatMap((k) => this.cachedGroups(k)))]);
  }

  /** The groups a kind's readings are cached in (none: it is read at every read). */
  cachedGroups(k: KindName): Group[] {
    return driver(k).sources.flatMap((s) => {
      const g = GROUP_OF[s];
      return g === "always" ? [] : [g];
    });
  }

  get status(): CacheStats {
    return {
      ...this.stats,
      mismatches: { ...this.stats.mismatches },
      restarts: { ...this.stats.restarts },
      taken: { ...this.stats.taken },
    };
  }

  /** The observed state: stale readings taken again, the rest from the cache. One read at a time. */
  read(): Promise<KernelState> {
    const next = this.readQueue.then(() => this.readNow());
    this.readQueue = next.catch(() => undefined);
    return next;
  }

  /**
   * Read everything afresh and keep the kernel's. Each object the cache had otherwise is judged a
   * moment later (`judged`): the kernel tells of some changes only after a delay (a carrier change up
   * to a second later, when its link watch runs), so a disagreement counts only when no event for its
   * readings came by then; `onMismatch` hears of each that counts.
   */
  resync(): Promise<{ state: KernelState; judged: Promise<readonly CacheMismatch[]> }> {
    const next = this.readQueue.then(() => this.resyncNow());
    this.readQueue = next.catch(() => undefined);
    return next;
  }

  private restarted(name: StreamName, info: RestartInfo): void {
    this.stats.restarts[name]++;
    // What it missed is unknown: every reading is taken afresh by the next read.
    this.mark(GROUPS);
    if (name === "ip") this.adminUp.clear();
    this.o.onRestart?.(name, info);
  }

  private mark(groups: readonly Group[]): void {
    for (const g of groups) {
      this.stale.add(g);
      this.events.set(g, (this.events.get(g) ?? 0) + 1);
    }
  }

  /** The group's stream runs and listens: every change from now on reaches us. */
  private listening(g: Group): boolean {
    if (g === "hostapd") return [...this.sessions.values()].every((s) => s.session.attached());
    const stream = g === "tc" || g === "nft" || g === "conntrack" ? g : "ip";
    return this.streams.get(stream)?.listening() ?? false;
  }

  /** One session per hostapd of ours that runs (by pid); the others are ended. */
  private syncSessions(daemons: RawObservation["daemons"]): void {
    const scope = scopeOf(this.o.netns ?? currentNetns());
    const dir = hostapdDir(this.o.stateDir(), scope);
    const wanted = new Map<string, string>(
      daemons.hostapd.map((h) => [`${h.iface}\0${h.pid}\0${dir}`, h.iface] as const),
    );
    let changed = false;
    for (const [key, s] of this.sessions) {
      if (wanted.has(key)) continue;
      this.sessions.delete(key);
      void s.session.stop();
      changed = true;
    }
    for (const [key, iface] of wanted) {
      if (this.sessions.has(key)) continue;
      changed = true;
      const session = new HostapdSession({
        ctrlDir: hostapdPaths(dir, iface).ctrlDir,
        iface,
        ...(this.o.netns === undefined ? {} : { netns: this.o.netns }),
        onChange: (what) => {
          this.mark(["hostapd"]);
          this.o.onChange?.(what);
        },
        onRestart: (info) => this.restarted("hostapd", info),
        onMissing: (message) =>
          this.o.onError?.(new Error(`${message}; the access point on ${iface} shows no state`)),
      });
      this.sessions.set(key, { iface, session });
    }
    if (changed) this.mark(["hostapd"]);
  }

  /** Each session's answer to `status` ("" when hostapd did not answer), by interface. */
  private async askSessions(): Promise<NonNullable<Readings["hostapd"]>> {
    const answers = await Promise.all(
      [...this.sessions.values()].map(async (s) => ({
        iface: s.iface,
        out: (await s.session.status()) ?? "",
      })),
    );
    return answers.sort((a, b) => (a.iface < b.iface ? -1 : a.iface > b.iface ? 1 : 0));
  }

  private async readNow(): Promise<KernelState> {
    const daemons = readDaemons(this.o.stateDir(), this.o.netns);
    this.syncSessions(daemons);
    for (const g of GROUPS) if (!this.listening(g)) this.stale.add(g);
    const due = GROUPS.filter((g) => this.stale.has(g) || !this.has(g));
    for (const g of due) {
      this.stale.delete(g);
      this.stats.taken[g]++;
    }
    try {
      this.store(await this.readGroups(due));
    } catch (e) {
      for (const g of due) this.stale.add(g);
      throw e;
    }
    // hostapd that did not answer is asked again (through its session) by the next read.
    if (this.readings.hostapd?.some((a) => a.out === "")) this.stale.add("hostapd");
    return this.compose(daemons);
  }

  private has(g: Group): boolean {
    return this.readings[g] !== undefined;
  }

  /** Read the groups `due` from the kernel, in parallel (the cache is not touched). */
  private async readGroups(due: readonly Group[]): Promise<Readings> {
    const netns = this.o.netns;
    const sections = (["address", "rule", "route"] as const).filter((g) => due.includes(g));
    const [ip, rules6, facts, tc, nft, conntrack, hostapd] = await Promise.all([
      sections.length === 0
        ? undefined
        : this.ip4.request(
            sections.map((s) => IP_COMMANDS[s]),
            "read",
          ),
      due.includes("rule") ? this.ip6.request([IP_COMMANDS.rule], "read") : undefined,
      !due.includes("facts") ? undefined : this.ownNamespace ? readFactsDirect() : readFacts(netns),
      due.includes("tc") ? readTc(netns, true) : undefined,
      due.includes("nft") ? readNft(netns) : undefined,
      due.includes("conntrack") ? readConntrack(netns) : undefined,
      due.includes("hostapd") ? this.askSessions() : undefined,
    ]);
    const answer = (a: ChannelAnswer | undefined): readonly string[] | undefined => {
      if (a === undefined) return undefined;
      if (!a.ok) throw new Error(`ip: ${IP_COMMANDS[sections[a.line - 1] ?? "address"]}: ${a.message}`);
      return a.outputs;
    };
    const outs = answer(ip);
    const six = answer(rules6);
    const out: Readings = {};
    sections.forEach((s, i) => {
      const text = `${outs?.[i] ?? ""}\n`;
      if (s === "rule") out.rule = { v4: text, v6: `${six?.[0] ?? ""}\n` };
      else out[s] = text;
    });
    if (facts !== undefined) out.facts = facts;
    if (tc !== undefined) out.tc = tc;
    if (nft !== undefined) out.nft = nft;
    if (due.includes("conntrack")) out.conntrack = { out: conntrack };
    if (hostapd !== undefined) out.hostapd = hostapd;
    return out;
  }

  /** Keep these readings; versions move for those that changed. */
  private store(readings: Readings): void {
    for (const g of GROUPS) {
      const value = readings[g];
      if (value !== undefined) this.put(g, value as NonNullable<Readings[typeof g]>);
    }
  }

  private put<G extends Group>(g: G, value: NonNullable<Readings[G]>): void {
    if (this.readings[g] !== undefined && plainEqual(this.readings[g], value)) return;
    this.readings[g] = value;
    this.versions.set(g, (this.versions.get(g) ?? 0) + 1);
  }

  /** The state from the readings: each kind parsed again only when one of its readings changed. */
  private compose(daemons: RawObservation["daemons"]): KernelState {
    const always: Pick<RawObservation, "daemons"> = { daemons };
    const state: Record<string, readonly KernelObject[]> = {};
    for (const k of KIND_NAMES) {
      const sources = driver(k).sources;
      // A kind with a reading taken at every read is parsed at every read; the others when one of
      // their readings changed.
      const key = sources.some((s) => GROUP_OF[s] === "always")
        ? undefined
        : sources.map((s) => String(this.versions.get(GROUP_OF[s] as Group))).join(",");
      const memo = this.parsed.get(k);
      if (key !== undefined && memo?.key === key) {
        state[k] = memo.objects;
        continue;
      }
      const objects = canonicalKind(k, driver(k).observe(rawFor(this.readings, sources, always)));
      if (key !== undefined) this.parsed.set(k, { key, objects });
      state[k] = objects;
    }
    return state as unknown as KernelState;
  }

  /** Every kind parsed from these readings (no memo: the resync's side). */
  private parseAll(readings: Readings, daemons: RawObservation["daemons"]): KernelState {
    const state: Record<string, readonly KernelObject[]> = {};
    for (const k of KIND_NAMES)
      state[k] = canonicalKind(k, driver(k).observe(rawFor(readings, driver(k).sources, { daemons })));
    return state as unknown as KernelState;
  }

  private async resyncNow(): Promise<{ state: KernelState; judged: Promise<readonly CacheMismatch[]> }> {
    // Events counted from before the cache's side is read: a change after that moves its group.
    const before = new Map(this.events);
    const cached = await this.readNow();
    // Everything read again through the same readers (no event consulted). hostapd is asked by a
    // process of its own rather than its session, so a session that fails to attach shows here.
    const daemons = readDaemons(this.o.stateDir(), this.o.netns);
    const [readings, hostapd] = await Promise.all([
      this.readGroups(GROUPS.filter((g) => g !== "hostapd")),
      daemons.hostapd.length === 0 ? [] : readHostapd(daemons, this.o.stateDir(), this.o.netns),
    ]);
    const ours = new Set([...this.sessions.values()].map((s) => s.iface));
    readings.hostapd = hostapd.filter((a) => ours.has(a.iface));
    const fresh = this.parseAll(readings, daemons);
    const candidates: CacheMismatch[] = [];
    for (const k of KIND_NAMES) {
      // A kind read at every read is never cached: nothing to prove.
      if (TRANSIENT_KINDS.includes(k) || this.cachedGroups(k).length === 0) continue;
      candidates.push(...compareKind(k, cached[k], fresh[k]));
    }
    this.stats.resyncs++;
    // The kernel wins: the fresh readings replace the cached ones (a group with news is stale anyway).
    this.store(readings);
    const judged =
      candidates.length === 0
        ? Promise.resolve([])
        : sleep(SETTLE_MS).then(() => {
            const moved = new Set(GROUPS.filter((g) => this.events.get(g) !== before.get(g)));
            const missed = candidates.filter((m) => !this.cachedGroups(m.kind).some((g) => moved.has(g)));
            for (const m of missed) {
              this.stats.mismatches[m.kind] = (this.stats.mismatches[m.kind] ?? 0) + 1;
              this.o.onMismatch?.(m);
            }
            return missed;
          });
    return { state: fresh, judged };
  }
}

/** A raw observation holding only the readings `sources` name. */
function rawFor(
  r: Readings,
  sources: readonly RawSource[],
  always: Pick<RawObservation, "daemons">,
): RawObservation {
  const sections = (["address", "rule", "route"] as const).filter(
    (s) => sources.includes(`ip-${s}`) && r[s] !== undefined,
  );
  const out = sections.map((s) => (s === "rule" ? r.rule!.v4 : r[s]!)).join("");
  return {
    ...always,
    hostapd: r.hostapd ?? [],
    ...(sections.length > 0 ? { ip: { out, sections } } : {}),
    ...(sources.includes("ip-rule") && r.rule !== undefined ? { rules6: r.rule.v6 } : {}),
    ...(sources.includes("sysfs") && r.facts !== undefined ? { facts: r.facts } : {}),
    ...(sources.includes("tc") && r.tc !== undefined
      ? { qdiscs: r.tc.qdiscs, ...(r.tc.tree === undefined ? {} : { tree: r.tc.tree }) }
      : {}),
    ...(sources.includes("nft") && r.nft !== undefined ? { nft: r.nft } : {}),
    ...(sources.includes("conntrack") && r.conntrack?.out !== undefined
      ? { conntrack: r.conntrack.out }
      : {}),
  };
}

/**
 * Each object one side has and the other has not, or has differently: every field, the observed-only
 * ones too (hostapd's state, a link's carrier), since the cache must say what a fresh read says.
 */
export function compareKind(
  k: KindName,
  cached: readonly KernelObject[],
  kernel: readonly KernelObject[],
): CacheMismatch[] {
  const d = driver(k);
  const byKey = new Map(kernel.map((o) => [d.key(o), o]));
  const out: CacheMismatch[] = [];
  for (const c of cached) {
    const key = d.key(c);
    const f = byKey.get(key);
    byKey.delete(key);
    if (f === undefined) out.push({ kind: k, key, cached: c });
    else if (!plainEqual(c, f)) out.push({ kind: k, key, cached: c, kernel: f });
  }
  for (const [key, f] of byKey) out.push({ kind: k, key, kernel: f });
  return out;
}
