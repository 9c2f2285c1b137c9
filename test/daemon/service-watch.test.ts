import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { ServiceWatch } from "../../src/daemon/service-watch.js";
import { dhcpClientOf } from "../../src/kinds/services/dhcp-client.js";
import { emptyState } from "../../src/kinds/types.js";
import { dnsmasqOf } from "../../src/kinds/services/dnsmasq.js";
import { HOTSPOT_SERVER } from "../support/plan-fixtures.js";

const exitedPid = async (): Promise<number> => {
  const child = spawn("true");
  await new Promise((r) => child.once("exit", r));
  return child.pid!;
};

describe("the supervision of our services", () => {
  it("finds a watched client gone, counts every exit and asks for a pass; a client a pass stops is no exit", async () => {
    const exits: string[] = [];
    const passes: string[] = [];
    const w = new ServiceWatch(
      (x) => exits.push(`${x.iface} ${x.restartInMs}`),
      (r) => passes.push(r),
    );
    const observedWith = (pid: number) => ({
      ...emptyState(),
      "dhcp-client": [{ ...dhcpClientOf("/var/lib/backhaul/dhcp/host", "usb0"), pid }],
    });
    const t0 = 1_000_000;
    for (let i = 0; i < 3; i++) {
      w.track(observedWith(await exitedPid()), t0 + i);
      w.check(t0 + i);
    }
    expect(exits).toEqual(["usb0 0", "usb0 1000", "usb0 2000"]);
    expect(w.status()).toMatchObject([{ service: "dhcp-client", iface: "usb0", exits: 3 }]);
    await new Promise((r) => setTimeout(r, 20));
    expect(passes).toEqual(["dhcp-client usb0 exited"]);
    w.track(observedWith(await exitedPid()));
    w.beforeTransact([{ op: "delete", before: observedWith(1)["dhcp-client"][0]! }]);
    w.check();
    expect(w.status()[0]?.exits).toBe(3);
    w.stop();
  });

  it("reports the clients a server of ours serves, as last observed", () => {
    const w = new ServiceWatch(
      () => undefined,
      () => undefined,
    );
    const lease = { mac: "02:00:00:00:00:01", address: "100.64.50.135", expires: 1796649999 };
    w.track({
      ...emptyState(),
      dnsmasq: [
        { ...dnsmasqOf("/var/lib/backhaul/dnsmasq/host", HOTSPOT_SERVER), pid: process.pid, leases: [lease] },
      ],
    });
    expect(w.status()).toEqual([
      { service: "dnsmasq", iface: "wlan0", pid: process.pid, exits: 0, clients: [lease] },
    ]);
    w.stop();
  });
});
