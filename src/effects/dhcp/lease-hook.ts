// What udhcpc runs on each lease event (through the file hook-file.ts writes). Every value from the
// environment udhcpc hands over is checked before it is used; nothing runs through a shell.
//   bound, renew: the lease's address goes on the interface with the lease's lifetimes (so the kernel
//     drops it by itself should the lease run out while nobody renews it), an address of an earlier
//     lease comes off, and the lease is recorded atomically in STATE/dhcp/NETNS/IFACE.lease;
//   deconfig (the lease is lost, or released on stop): the recorded address comes off and the record goes;
//   leasefail, nak: nothing to change (udhcpc keeps trying; a nak is followed by deconfig).
// The daemon sees the address come or go at once (its kernel monitor) and plans the uplink from it.
import { readFileSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { validInterfaceName } from "../../kinds/ip/common.js";
import { dhcpPaths, parseLease, type DhcpLease } from "../../kinds/services/dhcp-client.js";
import { run } from "../exec.js";
import { writeTextAtomic } from "../state/durable-file.js";

export const LEASE_HOOK_URL = import.meta.url;

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export type HookEnv = Readonly<Record<string, string | undefined>>;

/** The lease udhcpc reports, or the reason it cannot be taken. Pure. */
export function leaseFromEnv(env: HookEnv): { ok: true; lease: DhcpLease } | { ok: false; reason: string } {
  const ip = env["ip"] ?? "";
  const mask = env["mask"] ?? "";
  if (!IPV4.test(ip)) return { ok: false, reason: `address ${JSON.stringify(ip.slice(0, 40))} is not IPv4` };
  if (!/^\d{1,2}$/.test(mask) || Number(mask) < 1 || Number(mask) > 32)
    return { ok: false, reason: `prefix length ${JSON.stringify(mask.slice(0, 10))} is not 1..32` };
  const router = (env["router"] ?? "").split(" ").filter(Boolean)[0];
  if (router !== undefined && !IPV4.test(router))
    return { ok: false, reason: `router ${JSON.stringify(router.slice(0, 40))} is not IPv4` };
  const dns = (env["dns"] ?? "")
    .split(" ")
    .filter((d) => IPV4.test(d))
    .slice(0, 8);
  const lease = env["lease"] ?? "";
  if (!/^\d{1,10}$/.test(lease) || Number(lease) === 0)
    return {
      ok: false,
      reason: `lease time ${JSON.stringify(lease.slice(0, 20))} is not a number of seconds`,
    };
  return {
    ok: true,
    lease: {
      address: `${ip}/${mask}`,
      ...(router === undefined ? {} : { router }),
      dns,
      seconds: Number(lease),
    },
  };
}

function recorded(file: string): DhcpLease | undefined {
  try {
    return parseLease(readFileSync(file, "utf8"));
  } catch {
    return undefined;
  }
}

const ip = (args: string[]) => run(["ip", ...args], { allowFailure: true, timeoutMs: 5000 });

/** Handle one event; the exit code for udhcpc. `dir` is the hook's own directory, STATE/dhcp/NETNS. */
export async function runLeaseHook(event: string | undefined, env: HookEnv, dir: URL): Promise<number> {
  const say = (m: string) => process.stderr.write(`backhaul lease hook: ${m}\n`);
  const iface = env["interface"] ?? "";
  if (!validInterfaceName(iface) || iface.startsWith("-")) {
    say(`refused: interface ${JSON.stringify(iface.slice(0, 20))} is not a valid name`);
    return 1;
  }
  const paths = dhcpPaths(fileURLToPath(dir).replace(/\/+$/, ""), iface);
  const before = recorded(paths.lease);
  switch (event) {
    case "deconfig": {
      // udhcpc starts with deconfig too: the interface must be up for it to send anything.
      await ip(["link", "set", "dev", iface, "up"]);
      if (before !== undefined) await ip(["address", "del", before.address, "dev", iface]);
      rmSync(paths.lease, { force: true });
      say(`${iface}: no lease${before === undefined ? "" : ` (${before.address} removed)`}`);
      return 0;
    }
    case "bound":
    case "renew": {
      const got = leaseFromEnv(env);
      if (!got.ok) {
        say(`${iface}: lease refused: ${got.reason}`);
        return 1;
      }
      const lease = got.lease;
      if (before !== undefined && before.address !== lease.address)
        await ip(["address", "del", before.address, "dev", iface]);
      const life = String(lease.seconds);
      const r = await ip([
        "address",
        "replace",
        lease.address,
        "dev",
        iface,
        "valid_lft",
        life,
        "preferred_lft",
        life,
      ]);
      if (r.exitCode !== 0) {
        say(`${iface}: cannot assign ${lease.address}: ${r.stderr.trim()}`);
        return 1;
      }
      writeTextAtomic(paths.lease, `${JSON.stringify(lease)}\n`, 0o644);
      say(
        `${iface}: ${event} ${lease.address}${lease.router === undefined ? "" : ` router ${lease.router}`} for ${lease.seconds} s`,
      );
      return 0;
    }
    case "leasefail":
    case "nak":
      return 0;
    default:
      say(`ignored unknown event ${JSON.stringify((event ?? "").slice(0, 20))}`);
      return 0;
  }
}
