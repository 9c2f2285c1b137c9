// Sysctl names as sysctl(8) writes them: /proc/sys path segments joined by ".", a "." inside a segment
// (an interface named eth0.100) written "/". Observation, planning, ownership and apply all use this.

/** "/proc/sys/net/ipv4/conf/eth0.100/rp_filter" → "net.ipv4.conf.eth0/100.rp_filter". */
export function sysctlNameOfPath(path: string): string {
  return path
    .replace(/^\/proc\/sys\//, "")
    .split("/")
    .map((seg) => seg.replaceAll(".", "/"))
    .join(".");
}

/** The inverse: "net.ipv4.conf.eth0/100.rp_filter" → "/proc/sys/net/ipv4/conf/eth0.100/rp_filter". */
export function sysctlPath(name: string): string {
  const parts = name.split(".");
  if (parts.some((p) => p === "" || p === "." || p === ".." || p.includes("\0")))
    throw new Error(`invalid sysctl name ${JSON.stringify(name)}`);
  return `/proc/sys/${parts.map((p) => p.replace(/\//g, ".")).join("/")}`;
}

/** A per-interface sysctl: confSysctl(4, "eth0.100", "rp_filter") → "net.ipv4.conf.eth0/100.rp_filter". */
export function confSysctl(family: 4 | 6, iface: string, leaf: string): string {
  return `net.ipv${family}.conf.${iface.replaceAll(".", "/")}.${leaf}`;
}

/** The interface of a per-interface (conf or neigh) sysctl ("all" and "default" included), if any. */
export function sysctlInterface(name: string): string | undefined {
  return /^net\.ipv[46]\.(?:conf|neigh)\.([^.]+)\./.exec(name)?.[1]?.replaceAll("/", ".");
}
