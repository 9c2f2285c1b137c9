// The usage ledger: data used by each metered uplink in its budget period, read from the kernel's
// interface counters, kept across restarts in a durable file (atomic, checksummed; a damaged file is
// moved aside and reported). The daemon runs inside the namespace it manages, where /sys (remounted
// by `ip netns exec`) shows that namespace's interfaces.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Metered } from "../policy/types.js";
import { interfaceNameProblem } from "../policy/values.js";
import type { Usage } from "../core/selection/types.js";
import { CorruptFileError, readDurable, writeDurable } from "../effects/state/durable-file.js";
import type { UsageStatus } from "./status-model.js";
import type { Period, PeriodDef } from "../core/usage/budget-period.js";
import {
  addProbe,
  record,
  usageOf,
  type Account,
  type CounterReading,
  type CounterSample,
} from "../core/usage/usage-account.js";

const KIND = "usage-ledger";
const VERSION = 1;
const SYS_NET = "/sys/class/net";
const GONE = new Set(["ENOENT", "ENODEV", "ENXIO"]);

export function usageLedgerPath(stateDir: string, netns: string | undefined): string {
  return join(stateDir, "usage", `${netns ?? "host"}.json`);
}

/** A metered uplink as the loop resolved it this pass. */
export interface MeteredUplink {
  readonly name: string;
  /** The interface it uses now; undefined when none is present. */
  readonly iface: string | undefined;
  readonly metered: Metered;
}

export type ReadCounters = (iface: string) => Promise<CounterReading | undefined>;

async function readNumber(path: string): Promise<number | undefined> {
  try {
    const n = Number((await readFile(path, "utf8")).trim());
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${path}: not a counter`);
    return n;
  } catch (e) {
    // An interface being removed while we read it can answer ENODEV instead of vanishing at once.
    if (GONE.has(String((e as NodeJS.ErrnoException).code))) return undefined;
    throw e;
  }
}

/** An interface's byte counters from sysfs (`root`: a fixture directory in tests); undefined when absent. */
export async function readSysfsCounters(iface: string, root = SYS_NET): Promise<CounterReading | undefined> {
  const problem = interfaceNameProblem(iface);
  if (problem !== undefined) throw new Error(problem);
  const dir = join(root, iface);
  const [ifindex, rxBytes, txBytes] = await Promise.all([
    readNumber(join(dir, "ifindex")),
    readNumber(join(dir, "statistics", "rx_bytes")),
    readNumber(join(dir, "statistics", "tx_bytes")),
  ]);
  if (ifindex === undefined || rxBytes === undefined || txBytes === undefined) return undefined;
  return { ifindex, rxBytes, txBytes };
}

/** This boot's id: counters of every interface start again after a reboot. */
export async function readBootId(): Promise<string> {
  return (await readFile("/proc/sys/kernel/random/boot_id", "utf8")).trim();
}

interface StoredSample {
  readonly iface: string;
  readonly ifindex: number;
  readonly bootId: string;
  readonly rxBytes: number;
  readonly txBytes: number;
}

interface StoredAccount {
  readonly periodStart: string;
  readonly periodEnd: string;
  readonly countedBytes: number;
  readonly probeBytes: number;
  readonly last?: StoredSample;
}

interface StoredLedger {
  readonly uplinks: Readonly<Record<string, StoredAccount>>;
}

const isCount = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
const isTime = (v: unknown): v is string => typeof v === "string" && !Number.isNaN(Date.parse(v));

function isSample(v: unknown): v is StoredSample {
  if (typeof v !== "object" || v === null) return false;
  const s = v as Record<string, unknown>;
  return (
    typeof s.iface === "string" &&
    typeof s.bootId === "string" &&
    isCount(s.ifindex) &&
    isCount(s.rxBytes) &&
    isCount(s.txBytes)
  );
}

function isStoredLedger(d: unknown): d is StoredLedger {
  if (typeof d !== "object" || d === null) return false;
  const u = (d as Record<string, unknown>).uplinks;
  if (typeof u !== "object" || u === null) return false;
  return Object.values(u).every((a: unknown) => {
    if (typeof a !== "object" || a === null) return false;
    const r = a as Record<string, unknown>;
    return (
      isTime(r.periodStart) &&
      isTime(r.periodEnd) &&
      Date.parse(r.periodStart) < Date.parse(r.periodEnd) &&
      isCount(r.countedBytes) &&
      isCount(r.probeBytes) &&
      (r.last === undefined || isSample(r.last))
    );
  });
}

function toStored(a: Account): StoredAccount {
  return {
    periodStart: new Date(a.period.start).toISOString(),
    periodEnd: new Date(a.period.end).toISOString(),
    countedBytes: a.countedBytes,
    probeBytes: a.probeBytes,
    ...(a.last === undefined ? {} : { last: { ...a.last } }),
  };
}

function fromStored(s: StoredAccount): Account {
  const period: Period = { start: Date.parse(s.periodStart), end: Date.parse(s.periodEnd) };
  return {
    period,
    countedBytes: s.countedBytes,
    probeBytes: s.probeBytes,
    ...(s.last === undefined ? {} : { last: { ...s.last } }),
  };
}

export interface LedgerOptions {
  readonly path: string;
  readonly readCounters?: ReadCounters;
  /** Defaults to this boot's id (readBootId). */
  readonly bootId?: string;
  /**
   * Write the file at most this often while counting (default 60 s): every write pairs the counted
   * bytes with the counter reading they were counted up to, so after a crash counting resumes from
   * that reading and nothing is lost unless the counters were also reset (reboot) in between. A
   * period rollover and flush() write at once.
   */
  readonly persistEveryMs?: number;
}

export interface OpenedLedger {
  readonly ledger: UsageLedger;
  /** Set when the file on disk was damaged: it was moved aside and the ledger starts empty. Report it. */
  readonly corrupt?: CorruptFileError;
}

export class UsageLedger {
  private readonly accounts = new Map<string, Account>();
  /** The metered uplinks of the last sample: what usage() and status() report. */
  private uplinks: readonly MeteredUplink[] = [];
  private dirty = false;
  private lastWrite = -Infinity;

  private constructor(
    private readonly path: string,
    private readonly readCounters: ReadCounters,
    private readonly bootId: string,
    private readonly persistEveryMs: number,
  ) {}

  /** Load the ledger kept at `path` (none yet: an empty ledger). */
  static async open(o: LedgerOptions): Promise<OpenedLedger> {
    const ledger = new UsageLedger(
      o.path,
      o.readCounters ?? ((iface) => readSysfsCounters(iface)),
      o.bootId ?? (await readBootId()),
      o.persistEveryMs ?? 60_000,
    );
    try {
      const stored = readDurable(o.path, KIND, VERSION, isStoredLedger);
      for (const [name, a] of Object.entries(stored?.uplinks ?? {})) ledger.accounts.set(name, fromStored(a));
      return { ledger };
    } catch (e) {
      if (e instanceof CorruptFileError) return { ledger, corrupt: e };
      throw e;
    }
  }

  /**
   * Read the counters of every metered uplink's interface and count what they grew by. Accounts of
   * uplinks no longer metered stay in the file untouched (the policy may bring them back).
   */
  async sample(uplinks: readonly MeteredUplink[], now = Date.now()): Promise<void> {
    this.uplinks = uplinks;
    const readings = await Promise.all(
      uplinks.map(async (u): Promise<CounterSample | undefined> => {
        if (u.iface === undefined) return undefined;
        const r = await this.readCounters(u.iface);
        return r === undefined ? undefined : { ...r, iface: u.iface, bootId: this.bootId };
      }),
    );
    let rolled = false;
    uplinks.forEach((u, i) => {
      const before = this.accounts.get(u.name);
      const after = record(before, u.metered, readings[i], now);
      if (after === before) return;
      rolled ||= before === undefined || after.period.start !== before.period.start;
      this.accounts.set(u.name, after);
      this.dirty = true;
    });
    if (this.dirty && (rolled || now - this.lastWrite >= this.persistEveryMs)) this.write(now);
  }

  /**
   * The prober's estimate of the bytes its probes put on `uplink` (informational: the counters
   * already hold them). Ignored for uplinks that were not metered in the last sample.
   */
  addProbeBytes(uplink: string, bytes: number, now = Date.now()): void {
    const u = this.uplinks.find((x) => x.name === uplink);
    if (u === undefined) return;
    this.accounts.set(uplink, addProbe(this.accounts.get(uplink), u.metered, bytes, now));
    this.dirty = true;
  }

  /** Usage per metered uplink, as uplink selection takes it. */
  usage(now = Date.now()): Readonly<Record<string, Usage>> {
    return Object.fromEntries(
      this.uplinks.map((u) => {
        const x = this.usageAt(u, now);
        return [u.name, { usedBytes: x.usedBytes, budgetBytes: x.budgetBytes, exhausted: x.exhausted }];
      }),
    );
  }

  /** Usage per metered uplink, as the daemon's status shows it. */
  status(now = Date.now()): Readonly<Record<string, UsageStatus>> {
    return Object.fromEntries(
      this.uplinks.map((u) => {
        const x = this.usageAt(u, now);
        const status: UsageStatus = {
          usedBytes: x.usedBytes,
          budgetBytes: x.budgetBytes,
          probeBytes: x.probeBytes,
          periodStart: new Date(x.period.start).toISOString(),
          periodEnd: new Date(x.period.end).toISOString(),
          exhausted: x.exhausted,
        };
        return [u.name, status];
      }),
    );
  }

  /** Write the file now if anything changed since the last write (on shutdown). */
  flush(now = Date.now()): void {
    if (this.dirty) this.write(now);
  }

  private usageAt(u: MeteredUplink, now: number): ReturnType<typeof usageOf> {
    const def: PeriodDef = u.metered;
    return usageOf(this.accounts.get(u.name), def, u.metered.budget, now);
  }

  private write(now: number): void {
    const uplinks = Object.fromEntries([...this.accounts].map(([name, a]) => [name, toStored(a)]));
    writeDurable(this.path, KIND, VERSION, { uplinks });
    this.dirty = false;
    this.lastWrite = now;
  }
}
