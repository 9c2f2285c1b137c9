import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Lab, labDown, removeStaleLabs } from "../../src/lab/lab.js";
import { LABS_DIR, listNamespaces, OWNER_DIR } from "../../src/lab/netns.js";
import { listLabRecords, readLabRecord, type LabRecord } from "../../src/lab/registry.js";
import { DEMO_TOPOLOGY_FILE, loadTopology } from "../../src/lab/topology.js";
import { execa } from "execa";
import { startDetached } from "../../src/effects/exec.js";
import { isAlive } from "../../src/effects/proc.js";
import {
  eventually,
  LAB_TOOLS,
  requireKernel,
  rootSnapshot,
  withLab,
  type RootSnapshot,
} from "../helpers/kernel.js";

const SMALL = new URL("./fixtures/small-topology.yaml", import.meta.url).pathname;
const OWNER = new URL("./fixtures/lab-owner.ts", import.meta.url).pathname;

/** Start a separate process that brings a lab up and keeps it; returns its pid and its lab's record. */
async function startOwner(logDir: string): Promise<{ pid: number; lab: LabRecord }> {
  const pid = await startDetached([process.execPath, "--import", "tsx", OWNER, SMALL], {
    readyLine: "ready",
    stderrFile: join(logDir, "owner.log"),
    timeoutMs: 20_000,
  });
  const lab = listLabRecords().find((r) => r.owner.pid === pid);
  if (!lab) throw new Error(`owner ${pid} has no lab record`);
  return { pid, lab };
}

const namespacesOf = (r: LabRecord): string[] => [r.names.node, ...Object.values(r.names.isp)];

async function present(r: LabRecord): Promise<boolean[]> {
  const all = await listNamespaces();
  return namespacesOf(r).map((n) => all.includes(n));
}

describe.skipIf(!requireKernel(LAB_TOOLS))("lab lifecycle", () => {
  let root: RootSnapshot;
  let logDir: string;
  const owners: number[] = [];
  beforeAll(async () => {
    root = await rootSnapshot();
    logDir = mkdtempSync(join(tmpdir(), "bhl-owner-"));
  });
  afterAll(async () => {
    for (const pid of owners) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone already
      }
      await eventually(async () => !existsSync(`/proc/${pid}`));
    }
    // Labs of owners killed here are stale now: the next start removes them.
    await withLab(loadTopology(SMALL), async () => undefined);
    rmSync(logDir, { recursive: true, force: true });
    expect(await rootSnapshot()).toEqual(root);
  });

  it("teardown leaves no namespace, process, state file or root-namespace link behind", async () => {
    let seen: { namespaces: string[]; pids: number[]; dir: string; id: string } | undefined;
    // Watch the root namespace for the whole life of the lab: not one link, IPv4 address or rule event.
    const monitor = execa("ip", ["-4", "-o", "monitor", "link", "address", "rule"], { reject: false });
    await new Promise((r) => setTimeout(r, 300));
    await withLab(loadTopology(DEMO_TOPOLOGY_FILE), async (lab) => {
      seen = { namespaces: lab.namespaces, pids: lab.processes.map((p) => p.pid), dir: lab.dir, id: lab.id };
      expect(lab.processes.length).toBeGreaterThan(0);
      expect(await rootSnapshot()).toEqual(root);
    });
    monitor.kill("SIGTERM");
    expect((await monitor).stdout).toBe("");
    if (!seen) throw new Error("withLab did not run");
    const all = await listNamespaces();
    for (const n of seen.namespaces) {
      expect(all).not.toContain(n);
      expect(existsSync(join(OWNER_DIR, `${n}.json`))).toBe(false);
    }
    const pids = seen.pids;
    expect(await eventually(async () => pids.every((pid) => !existsSync(`/proc/${pid}`)))).toBe(true);
    expect(existsSync(seen.dir)).toBe(false);
    expect(readLabRecord(seen.id)).toBeUndefined();
    expect(await rootSnapshot()).toEqual(root);
  });

  it("the next start removes a lab whose owner crashed and keeps the lab of a live owner", async () => {
    const crashed = await startOwner(logDir);
    owners.push(crashed.pid);
    const live = await startOwner(logDir);
    owners.push(live.pid);
    process.kill(crashed.pid, "SIGKILL");
    expect(await eventually(async () => !existsSync(`/proc/${crashed.pid}`))).toBe(true);
    // The crash left everything in place.
    expect(await present(crashed.lab)).toEqual([true, true]);
    expect(crashed.lab.processes.every((p) => isAlive(p.pid, p.startTime))).toBe(true);

    await withLab(loadTopology(SMALL), async () => {
      expect(await present(crashed.lab)).toEqual([false, false]);
      const dead = async (): Promise<boolean> =>
        !crashed.lab.processes.some((p) => isAlive(p.pid, p.startTime));
      expect(await eventually(dead)).toBe(true);
      expect(readLabRecord(crashed.lab.id)).toBeUndefined();
      expect(await present(live.lab)).toEqual([true, true]);
      expect(readLabRecord(live.lab.id)).toBeDefined();
    });
    await expect(labDown(live.lab.id)).rejects.toThrow(/belongs to the running process/);
    expect(await present(live.lab)).toEqual([true, true]);

    // SIGTERM: the owner tears its own lab down before it exits.
    process.kill(live.pid, "SIGTERM");
    expect(await eventually(async () => !existsSync(`/proc/${live.pid}`), 10_000)).toBe(true);
    expect(await present(live.lab)).toEqual([false, false]);
    expect(await eventually(async () => !live.lab.processes.some((p) => isAlive(p.pid, p.startTime)))).toBe(
      true,
    );
    expect(readLabRecord(live.lab.id)).toBeUndefined();
  });

  it("a persistent lab is never stale while its record exists, and is once the record is gone", async () => {
    const lab = await Lab.up(loadTopology(SMALL), { persistent: true });
    try {
      await removeStaleLabs();
      expect(await listNamespaces()).toEqual(expect.arrayContaining(lab.namespaces));
      // What a `lab down` that died halfway leaves: namespaces whose persistent lab has no record.
      rmSync(join(LABS_DIR, `${lab.id}.json`));
      await removeStaleLabs();
      const all = await listNamespaces();
      for (const n of lab.namespaces) expect(all).not.toContain(n);
      expect(existsSync(lab.dir)).toBe(false);
      const dead = async (): Promise<boolean> => !lab.processes.some((p) => isAlive(p.pid, p.startTime));
      expect(await eventually(dead)).toBe(true);
    } finally {
      await lab.down();
    }
  });

  it("a lab that fails to come up removes what it made", async () => {
    const t = loadTopology(SMALL);
    const before = await listNamespaces();
    // A topology built in code skips validation: the same target twice makes the ISP's batch fail.
    const target = { address: "198.51.100.10", tcp: [443], http: [] };
    const broken = { ...t, internet: { ...t.internet, targets: [target, target] } };
    await expect(Lab.up(broken)).rejects.toThrow();
    const after = await listNamespaces();
    expect(
      after.filter((n) => !before.includes(n) && listLabRecords().every((r) => !n.startsWith(r.id))),
    ).toEqual([]);
    expect(await rootSnapshot()).toEqual(root);
  });
});
