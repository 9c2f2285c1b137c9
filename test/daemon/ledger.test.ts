import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  readSysfsCounters,
  UsageLedger,
  usageLedgerPath,
  type MeteredUplink,
} from "../../src/daemon/ledger.js";
import { CorruptFileError } from "../../src/effects/state/durable-file.js";

const T0 = Date.parse("2026-11-10T12:00:00Z");

/** A sysfs tree in a temp directory: the ledger reads it with the same code as /sys/class/net. */
function fakeSys(): {
  root: string;
  set: (iface: string, ifindex: number, rx: number, tx: number) => void;
  remove: (iface: string) => void;
} {
  const root = mkdtempSync(join(tmpdir(), "bh-sysnet-"));
  return {
    root,
    set(iface, ifindex, rx, tx) {
      mkdirSync(join(root, iface, "statistics"), { recursive: true });
      writeFileSync(join(root, iface, "ifindex"), `${ifindex}\n`);
      writeFileSync(join(root, iface, "statistics", "rx_bytes"), `${rx}\n`);
      writeFileSync(join(root, iface, "statistics", "tx_bytes"), `${tx}\n`);
    },
    remove(iface) {
      rmSync(join(root, iface), { recursive: true, force: true });
    },
  };
}

const lte: MeteredUplink = {
  name: "lte",
  iface: "wwan0",
  metered: { budget: 10_000, period: "monthly", resetDay: 1, onExhausted: "emergency-only" },
};

async function openAt(path: string, root: string, bootId = "boot-1") {
  return UsageLedger.open({ path, bootId, readCounters: (i) => readSysfsCounters(i, root) });
}

describe("the usage ledger", () => {
  it("counts counter growth per metered uplink and reports it for selection and status", async () => {
    const sys = fakeSys();
    const path = usageLedgerPath(mkdtempSync(join(tmpdir(), "bh-ledger-")), "bhlx-node");
    expect(path).toMatch(/usage\/bhlx-node\.json$/);
    const { ledger, corrupt } = await openAt(path, sys.root);
    expect(corrupt).toBeUndefined();
    sys.set("wwan0", 4, 1_000_000, 50_000);
    await ledger.sample([lte], T0);
    sys.set("wwan0", 4, 1_006_000, 54_000);
    await ledger.sample([lte], T0 + 1000);
    ledger.addProbeBytes("lte", 120, T0 + 1000);
    ledger.addProbeBytes("not-metered", 999, T0 + 1000);
    expect(ledger.usage(T0 + 1000)).toEqual({
      lte: { usedBytes: 10_000, budgetBytes: 10_000, exhausted: true },
    });
    expect(ledger.status(T0 + 1000)).toEqual({
      lte: {
        usedBytes: 10_000,
        budgetBytes: 10_000,
        probeBytes: 120,
        periodStart: "2026-11-01T00:00:00.000Z",
        periodEnd: "2026-12-01T00:00:00.000Z",
        exhausted: true,
      },
    });
  });

  it("adds nothing while the interface is absent and counts a re-created one from zero", async () => {
    const sys = fakeSys();
    const path = usageLedgerPath(mkdtempSync(join(tmpdir(), "bh-ledger-")), undefined);
    const { ledger } = await openAt(path, sys.root);
    sys.set("wwan0", 4, 500, 500);
    await ledger.sample([lte], T0);
    sys.remove("wwan0");
    await ledger.sample([lte], T0 + 1000);
    await ledger.sample([{ ...lte, iface: undefined }], T0 + 2000);
    expect(ledger.usage(T0 + 2000)["lte"]?.usedBytes).toBe(0);
    sys.set("wwan0", 7, 300, 20);
    await ledger.sample([lte], T0 + 3000);
    expect(ledger.usage(T0 + 3000)["lte"]?.usedBytes).toBe(320);
  });

  it("resumes after a restart from the reading it last wrote, counting what passed while it was down", async () => {
    const sys = fakeSys();
    const path = usageLedgerPath(mkdtempSync(join(tmpdir(), "bh-ledger-")), undefined);
    const first = (await openAt(path, sys.root)).ledger;
    sys.set("wwan0", 4, 0, 0);
    await first.sample([lte], T0);
    sys.set("wwan0", 4, 2000, 0);
    await first.sample([lte], T0 + 1000); // within persistEveryMs: not written yet
    sys.set("wwan0", 4, 3000, 0);
    // The process dies here: the next one starts from the last written reading (0), loses nothing.
    const second = (await openAt(path, sys.root)).ledger;
    await second.sample([lte], T0 + 5000);
    expect(second.usage(T0 + 5000)["lte"]?.usedBytes).toBe(3000);
    second.flush(T0 + 5000);
    // After a reboot the counters start again from 0: all they show is new.
    sys.set("wwan0", 4, 100, 0);
    const third = (await openAt(path, sys.root, "boot-2")).ledger;
    await third.sample([lte], T0 + 9000);
    expect(third.usage(T0 + 9000)["lte"]?.usedBytes).toBe(3100);
    expect(readdirSync(join(path, ".."))).toEqual([`host.json`]);
  });

  it("reports a damaged file, keeps it aside and starts empty instead of trusting it", async () => {
    const sys = fakeSys();
    const path = usageLedgerPath(mkdtempSync(join(tmpdir(), "bh-ledger-")), undefined);
    const { ledger } = await openAt(path, sys.root);
    sys.set("wwan0", 4, 0, 0);
    await ledger.sample([lte], T0);
    writeFileSync(path, readFileSync(path, "utf8").replace('"probeBytes": 0', '"probeBytes": 7'));
    const reopened = await openAt(path, sys.root);
    expect(reopened.corrupt).toBeInstanceOf(CorruptFileError);
    expect(reopened.corrupt?.message).toMatch(/checksum mismatch/);
    expect(readdirSync(join(path, "..")).some((f) => f.startsWith("host.json.corrupt-"))).toBe(true);
  });

  it("refuses an interface name that is not one", async () => {
    await expect(readSysfsCounters("../etc")).rejects.toThrow(/'\/'/);
  });
});

describe("the usage ledger file", () => {
  it("is not rewritten while nothing moves", async () => {
    const sys = fakeSys();
    const path = usageLedgerPath(mkdtempSync(join(tmpdir(), "bh-ledger-")), undefined);
    const { ledger } = await openAt(path, sys.root);
    sys.set("wwan0", 4, 10, 10);
    await ledger.sample([lte], T0);
    const written = readFileSync(path, "utf8");
    rmSync(path);
    await ledger.sample([lte], T0 + 3_600_000);
    ledger.flush(T0 + 3_600_000);
    expect(readdirSync(join(path, ".."))).toEqual([]);
    sys.set("wwan0", 4, 10, 11);
    await ledger.sample([lte], T0 + 7_200_000);
    expect(readFileSync(path, "utf8")).not.toBe(written);
  });
});
