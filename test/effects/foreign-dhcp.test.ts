// Other DHCP clients, as `adopt` finds them in /proc: by their program and the interface among their
// arguments, only in this network namespace, never backhaul's own.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { foreignDhcpClients } from "../../src/effects/dhcp/foreign-clients.js";

describe("foreignDhcpClients", () => {
  const proc = mkdtempSync(join(tmpdir(), "bh-proc-"));
  afterAll(() => rmSync(proc, { recursive: true, force: true }));
  const processOf = (pid: string, argv: string[], netns = "net:[4026532001]") => {
    mkdirSync(join(proc, pid, "ns"), { recursive: true });
    writeFileSync(join(proc, pid, "cmdline"), argv.map((a) => `${a}\0`).join(""));
    symlinkSync(netns, join(proc, pid, "ns", "net"));
  };
  processOf("self", ["node"]);
  processOf("100", ["/sbin/dhclient", "-4", "-v", "-pf", "/run/dhclient.eth0.pid", "eth0"]);
  processOf("101", ["udhcpc", "-f", "-i", "usb0"]);
  processOf("102", ["/usr/sbin/dhcpcd", "--interface=wlan0"]);
  processOf("103", ["udhcpc", "-f", "-iwwan0"], "net:[4026531840]");
  processOf("104", ["sshd", "eth1"]);
  processOf("105", []);

  it("names each interface a client runs on here, leaving out other namespaces, ours and non-clients", () => {
    const found = foreignDhcpClients(["eth0", "eth1", "usb0", "wlan0", "wwan0"], new Set([101]), proc);
    expect(Object.fromEntries(found)).toEqual({
      eth0: "dhclient, pid 100",
      wlan0: "dhcpcd, pid 102",
    });
  });

  it("with no readable namespace of its own it claims nothing", () => {
    expect(foreignDhcpClients(["eth0"], new Set(), join(proc, "missing"))).toEqual(new Map());
  });
});
