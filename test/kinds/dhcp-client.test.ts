import { describe, expect, it } from "vitest";
import { RenderError } from "../../src/kinds/driver.js";
import { DRIVERS } from "../../src/kinds/registry.js";
import {
  dhcpArgv,
  dhcpClientOf,
  dhcpDir,
  dirOfArgv,
  parseLease,
} from "../../src/kinds/services/dhcp-client.js";

const dir = dhcpDir("/var/lib/backhaul/", "bhl1-node");
const render = (op: Parameters<(typeof DRIVERS)["dhcp-client"]["command"]["render"]>[0]) =>
  DRIVERS["dhcp-client"].command.render(op, { replacedRoots: new Set() });

describe("the DHCP client kind", () => {
  it("runs udhcpc in the foreground with our pid file and hook, per namespace", () => {
    expect(dir).toBe("/var/lib/backhaul/dhcp/bhl1-node");
    expect(dhcpArgv(dir, "usb0")).toEqual([
      "udhcpc",
      "-f",
      "-R",
      "-i",
      "usb0",
      "-p",
      `${dir}/usb0.pid`,
      "-s",
      `${dir}/hook.mjs`,
      "-t",
      "3",
      "-T",
      "2",
      "-A",
      "5",
    ]);
    expect(dirOfArgv(dhcpArgv(dir, "usb0"))).toBe(dir);
    expect(dirOfArgv(["udhcpc", "-i", "usb0", "-p", "/run/other.pid"])).toBeUndefined();
  });

  it("starts and stops through the service tool; a restart is a stop and a start, never in place", () => {
    const c = dhcpClientOf(dir, "usb0");
    expect(render({ op: "add", after: c })).toEqual([
      expect.objectContaining({
        action: "start",
        argv: c.argv,
        pidFile: `${dir}/usb0.pid`,
        prepare: { kind: "dhcp", path: `${dir}/hook.mjs` },
      }),
    ]);
    expect(render({ op: "delete", before: { ...c, pid: 7 } })).toEqual([
      expect.objectContaining({ action: "stop", argv: c.argv, pidFile: `${dir}/usb0.pid` }),
    ]);
    expect(DRIVERS["dhcp-client"].inPlace).toBe(false);
    expect(DRIVERS["dhcp-client"].cleanup).toBe("remove");
  });

  it("is the same client whatever its pid and lease; another command line is another client", () => {
    const c = dhcpClientOf(dir, "usb0");
    const seen = { ...c, pid: 42, lease: { address: "100.64.3.100/24", dns: [], seconds: 60 } };
    expect(DRIVERS["dhcp-client"].equal(c, seen)).toBe(true);
    expect(DRIVERS["dhcp-client"].equal(c, { ...c, argv: [...c.argv, "-q"] })).toBe(false);
  });

  it("refuses before anything runs an interface name or a command line that is not ours", () => {
    for (const iface of ["-x", "a b", "way-too-long-name0", "a/b"])
      expect(() => render({ op: "add", after: { ...dhcpClientOf(dir, "usb0"), iface } })).toThrow(
        RenderError,
      );
    expect(() =>
      render({ op: "add", after: { ...dhcpClientOf(dir, "usb0"), argv: ["sh", "-c", "reboot"] } }),
    ).toThrow(RenderError);
    expect(() => render({ op: "add", after: dhcpClientOf("/tmp/x y/dhcp/n", "usb0") })).toThrow(RenderError);
    expect(() => render({ op: "add", after: dhcpClientOf("/tmp/../etc", "usb0") })).toThrow(RenderError);
  });

  it("takes a lease file only when every field is what the hook writes", () => {
    const good = { address: "100.64.3.100/24", router: "100.64.3.1", dns: ["9.9.9.9"], seconds: 3600 };
    expect(parseLease(JSON.stringify(good))).toEqual(good);
    expect(parseLease(JSON.stringify({ ...good, router: undefined }))).toEqual({
      ...good,
      router: undefined,
    });
    for (const bad of [
      "not json",
      "null",
      JSON.stringify({ ...good, address: "100.64.3.100" }),
      JSON.stringify({ ...good, address: "fe80::1/64" }),
      JSON.stringify({ ...good, router: "100.64.3.1; reboot" }),
      JSON.stringify({ ...good, dns: "9.9.9.9" }),
      JSON.stringify({ ...good, seconds: -1 }),
      JSON.stringify({ ...good, seconds: "3600" }),
    ])
      expect(parseLease(bad), bad).toBeUndefined();
  });
});
