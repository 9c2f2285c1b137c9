import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cli } from "../helpers/cli.js";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { removeStaleLabs } from "../../src/lab/lab.js";
import { listNamespaces } from "../../src/lab/netns.js";
import { listLabRecords, readLabRecord } from "../../src/lab/registry.js";
import type { LabStatus } from "../../src/lab/status.js";
import { isAlive } from "../../src/effects/proc.js";
import { LAB_TOOLS, requireKernel } from "../helpers/kernel.js";

const SMALL = new URL("./fixtures/small-topology.yaml", import.meta.url).pathname;

describe.skipIf(!requireKernel(LAB_TOOLS))("backhaul lab", () => {
  const dir = mkdtempSync(join(tmpdir(), "bhl-cli-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("up brings up a lab that outlives the command, status lists it, down removes it", async () => {
    const up = await cli(["lab", "up", "--topology", SMALL]);
    expect(up.stderr).toBe("");
    expect(up.exitCode).toBe(0);
    const id = /^lab (bhl[0-9a-f]+) is up/.exec(up.stdout)?.[1];
    if (id === undefined) throw new Error(`no lab id in:\n${up.stdout}`);
    try {
      expect(up.stdout).toContain(`ip netns exec ${id}-node backhaul show`);
      expect(up.stdout).toContain(`backhaul show --netns ${id}-node`);
      expect(up.stdout).toContain(`backhaul lab down ${id}`);

      // The command has exited; its lab stays, and is not stale to anyone.
      const record = readLabRecord(id);
      expect(record?.persistent).toBe(true);
      await removeStaleLabs();
      expect(await listNamespaces()).toEqual(expect.arrayContaining([`${id}-node`, `${id}-isp`]));
      expect(record?.processes.every((p) => isAlive(p.pid, p.startTime))).toBe(true);

      const status = await cli(["lab", "status", "--json"]);
      expect(status.exitCode).toBe(0);
      const mine = (JSON.parse(status.stdout) as LabStatus[]).find((l) => l.id === id);
      expect(mine).toMatchObject({
        persistent: true,
        namespaces: [
          { name: `${id}-node`, present: true },
          { name: `${id}-isp`, present: true },
        ],
        uplinks: [
          {
            iface: "eth0",
            isp: `${id}-isp`,
            gateway: "100.64.1.1/24",
            addressing: "external",
            present: true,
            carrier: true,
            addresses: ["100.64.1.2/24"],
          },
        ],
      });
      expect((await cli(["lab", "status"])).stdout).toContain(`lab ${id}  persistent`);
    } finally {
      const down = await cli(["lab", "down", id]);
      expect(down.stdout).toBe(`lab ${id} is down\n`);
    }
    const all = await listNamespaces();
    expect(all).not.toContain(`${id}-node`);
    expect(all).not.toContain(`${id}-isp`);
    expect(readLabRecord(id)).toBeUndefined();
  });

  it("up with a bad topology says where and what, exits 1 and creates nothing", async () => {
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, "internet:\n  targets: []\nuplinks: []\n");
    const before = listLabRecords().map((l) => l.id);
    const r = await cli(["lab", "up", "--topology", bad]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(`${bad}:2:12: internet.targets: must NOT have fewer than 1 items`);
    expect(r.stderr).toContain(`${bad}:3:10: uplinks: must NOT have fewer than 1 items`);
    // Other test files bring up their own (non-persistent) labs meanwhile: only a lab made by the
    // CLI (persistent) could come from this command.
    const made = listLabRecords().filter((l) => l.persistent && !before.includes(l.id));
    expect(made).toEqual([]);
  });

  it("down of an unknown lab is an error", async () => {
    const r = await cli(["lab", "down", "bhl000000"]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('no lab "bhl000000"');
  });
});
