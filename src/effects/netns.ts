// Which network namespace this process acts in on the user's behalf, and what a namespace name may be.
// The CLI re-runs itself inside `--netns NAME` (cli/in-netns.ts) and says so through the environment;
// the daemon's status socket is named after the namespace.

export const NETNS_ENV = "BACKHAUL_NETNS";

/** Kernel's rules for namespace names as iproute2 applies them: a file name under /run/netns. */
export function validNetnsName(name: string): boolean {
  return /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/.test(name) && name !== "." && name !== "..";
}

/** The namespace this process runs in on the user's behalf (set after a re-exec), if any. */
export function currentNetns(): string | undefined {
  return process.env[NETNS_ENV] || undefined;
}
