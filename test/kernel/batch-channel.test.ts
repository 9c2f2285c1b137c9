// One long-lived `ip -batch` process for request after request: each read answers per line, a write's
// failing line is named within its own request (as a fresh batch would name it) after any number of
// earlier requests, and a process that stops (after a failing line, or killed) is replaced for the next.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addNamespace, deleteNamespace, newLabId } from "../../src/lab/netns.js";
import { BatchChannel } from "../../src/effects/batch-channel.js";
import { processCounter, run } from "../../src/effects/exec.js";
import { requireKernel } from "../helpers/kernel.js";

describe.skipIf(!requireKernel())("a long-lived ip batch channel", () => {
  const node = `${newLabId()}c`;
  let writes: BatchChannel;
  let reads: BatchChannel;
  const routes = async () => {
    const out = (await run(["ip", "-j", "route", "show", "table", "100"], { netns: node })).stdout.trim();
    return (out === "" ? [] : (JSON.parse(out) as { dst: string }[])).map((r) => r.dst);
  };

  beforeAll(async () => {
    await addNamespace(node);
    await run(["ip", "link", "set", "lo", "up"], { netns: node });
    writes = new BatchChannel({ argv: ["ip", "-4", "-j"], netns: node });
    reads = new BatchChannel({ argv: ["ip", "-N", "-j", "-d"], netns: node });
  });

  afterAll(async () => {
    await writes?.close();
    await reads?.close();
    await deleteNamespace(node);
  });

  it("runs write after write in one process", async () => {
    const before = processCounter.started;
    for (let i = 0; i < 5; i++)
      expect(await writes.request([`route add 10.0.${i}.0/24 dev lo table 100`], "write")).toEqual({
        ok: true,
        outputs: [],
      });
    expect(processCounter.started - before).toBeLessThanOrEqual(1);
    expect(await routes()).toHaveLength(5);
  });

  it("answers each line of a read with its own JSON document", async () => {
    const a = await reads.request(["route show table 100", "rule show", "address show dev lo"], "read");
    expect(a.ok).toBe(true);
    if (!a.ok) return;
    expect(a.outputs).toHaveLength(3);
    const [r, rules, addr] = a.outputs.map((o) => JSON.parse(o) as unknown[]);
    expect(r).toHaveLength(5);
    expect(rules!.length).toBeGreaterThanOrEqual(3);
    expect(addr).toHaveLength(1);
  });

  it("names the failing line of the request, not of the process's whole input, and the lines before it ran", async () => {
    const a = await writes.request(
      [
        "route add 10.1.0.0/24 dev lo table 100",
        "route add 10.1.0.0/24 dev lo table 100",
        "route add 10.1.1.0/24 dev lo table 100",
      ],
      "write",
    );
    expect(a).toMatchObject({ ok: false, line: 2 });
    if (!a.ok) expect(a.message).toMatch(/File exists/);
    const now = await routes();
    expect(now).toContain("10.1.0.0/24");
    expect(now).not.toContain("10.1.1.0/24");
    // The process stopped at the failing line; the next request runs in a new one.
    expect(await writes.request(["route add 10.1.1.0/24 dev lo table 100"], "write")).toMatchObject({
      ok: true,
    });
    expect(await routes()).toContain("10.1.1.0/24");
  });

  it("replaces a killed process: the request in flight fails, the next runs", async () => {
    await writes.request(["route add 10.2.0.0/24 dev lo table 100"], "write");
    const pid = writes.pid();
    expect(pid).toBeDefined();
    process.kill(pid!, "SIGKILL");
    await new Promise((r) => setTimeout(r, 50));
    expect(await writes.request(["route add 10.2.1.0/24 dev lo table 100"], "write")).toMatchObject({
      ok: true,
    });
    expect(writes.pid()).not.toBe(pid);
    expect(await routes()).toContain("10.2.1.0/24");
  });
});
