// Waiting for the DHCP clients an apply started to get their leases, so that one `apply` can go on to
// plan the uplinks those leases make usable (their tables and source rules) instead of leaving that
// to a second run.
import type { DhcpLease } from "../../kinds/services/dhcp-client.js";
import { scopeOf } from "../../kinds/services/dhcp-client.js";
import { pollUntil } from "../proc.js";
import { observeDaemons } from "../services.js";

/** How long apply waits for the leases of the clients it started (a tether answers within seconds). */
export const LEASE_WAIT_MS = 10_000;

/** Each interface's lease once all have one, or what there is when `timeoutMs` runs out. */
export async function awaitLeases(
  stateDir: string,
  netns: string | undefined,
  ifaces: readonly string[],
  timeoutMs = LEASE_WAIT_MS,
): Promise<ReadonlyMap<string, DhcpLease | undefined>> {
  const read = () => {
    const seen = new Map(observeDaemons(stateDir, scopeOf(netns)).dhcp.map((c) => [c.iface, c.lease]));
    return new Map(ifaces.map((i) => [i, seen.get(i)]));
  };
  const all = await pollUntil(
    () => {
      const out = read();
      return [...out.values()].every((l) => l !== undefined) ? out : undefined;
    },
    timeoutMs,
    100,
  );
  return all ?? read();
}
