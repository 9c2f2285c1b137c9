// The ledger against the real kernel: counters of a veth inside a lab namespace, read through that
// namespace's /sys by a process running inside it, as the daemon does.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MeteredUplink } from "../../src/daemon/ledger.js";
import type { UsageStatus } from "../../src/daemon/status-model.js";
import { addNamespace, deleteNamespace, newLabId } from "../../src/lab/netns.js";
import { run } from "../../src/effects/exec.js";
import { requireKernel } from "../helpers/kernel.js";

const SCRIPT = join(import.meta.dirname, "scripts", "ledger-sample.ts");
// ICMP payload 1000 + ICMP 8 + IPv4 20 + Ethernet 14: one frame each way per ping.
const FRAME = 1042;

describe.skipIf(!requireKernel(["ping"]))("usage ledger on the real kernel", () => {
  const id = newLabId();
  const node = `${id}-node`;
  const isp = `${id}-isp`;
  const path = join(mkdtempSync(join(tmpdir(), "bh-ledger-k-")), "usage", `${node}.json`);
  const uplink: MeteredUplink = {
    name: "lte",
    iface: "va",
    metered: { budget: 1_000_000, period: "monthly", resetDay: 1, onExhausted: "emergency-only" },
  };

  async function veth(): Promise<void> {
    await run(["ip", "-n", node, "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", isp]);
    await run(["ip", "-n", node, "address", "add", "100.64.7.1/30", "dev", "va"]);
    await run(["ip", "-n", isp, "address", "add", "100.64.7.2/30", "dev", "vb"]);
    await run(["ip", "-n", node, "link", "set", "va", "up"]);
    await run(["ip", "-n", isp, "link", "set", "vb", "up"]);
  }

  const ping = (count: number): Promise<unknown> =>
    run(["ping", "-n", "-q", "-c", String(count), "-i", "0.01", "-s", "1000", "-W", "2", "100.64.7.2"], {
      netns: node,
    });

  async function sample(): Promise<UsageStatus> {
    const r = await run([process.execPath, "--import", "tsx", SCRIPT, path, JSON.stringify(uplink)], {
      netns: node,
      timeoutMs: 30_000,
    });
    return JSON.parse(r.stdout) as UsageStatus;
  }

  beforeAll(async () => {
    await addNamespace(node);
    await addNamespace(isp);
    await veth();
  });
  afterAll(async () => {
    await deleteNamespace(node);
    await deleteNamespace(isp);
  });

  it("counts the bytes that crossed the interface, across restarts and a re-created interface", async () => {
    const first = await sample();
    expect(first.usedBytes).toBe(0);

    await ping(20);
    const second = await sample();
    expect(second.usedBytes).toBeGreaterThanOrEqual(40 * FRAME);
    // Besides the pings: ARP and IPv6 neighbour discovery, a few hundred bytes.
    expect(second.usedBytes).toBeLessThan(40 * FRAME + 5000);

    await run(["ip", "-n", node, "link", "del", "va"]);
    const absent = await sample();
    expect(absent.usedBytes).toBe(second.usedBytes);

    await veth();
    await ping(10);
    const third = await sample();
    expect(third.usedBytes - second.usedBytes).toBeGreaterThanOrEqual(20 * FRAME);
    expect(third.usedBytes - second.usedBytes).toBeLessThan(20 * FRAME + 5000);
    expect(third.exhausted).toBe(false);
  });
});
