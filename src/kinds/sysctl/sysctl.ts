// Sysctls the policy implies (forwarding for the hotspot, rp_filter of uplinks): observed from /proc/sys,
// written in place, never deleted (a sysctl exists as long as its interface does).
import { RenderError, type KindDriver, COMMON_PARTS } from "../driver.js";
import { factsOf } from "../raw.js";
import { columns } from "../show-text.js";
import type { KernelState } from "../types.js";
import { sysctlInterface } from "./names.js";

export interface Sysctl {
  readonly kind: "sysctl";
  /** Dotted name: "net.ipv4.ip_forward", "net.ipv4.conf.eth0.rp_filter". */
  readonly name: string;
  readonly value: string;
}

/** A name that maps to a file under /proc/sys and nowhere else. */
function checkedName(name: string): string {
  const segments = name.split(".");
  if (segments.length < 2 || segments.some((s) => s === "" || s === ".." || /[\s\0]/.test(s)))
    throw new RenderError(`invalid sysctl name ${JSON.stringify(name)}`);
  return name;
}

export const sysctl: KindDriver<Sysctl, KernelState> = {
  kind: "sysctl",
  ...COMMON_PARTS,
  key: (o) => o.name,
  owned: (o, own) => own.sysctls.includes(o.name),
  sources: ["sysfs"],
  observe: (raw) => [...factsOf(raw).sysctls],
  inPlace: true,
  deletable: () => false,
  rank: 3,
  command: {
    tool: "sysctl",
    render(op) {
      if (op.op === "delete")
        throw new RenderError(`sysctl ${op.before.name} cannot be deleted, only changed`);
      if (/[\n\0]/.test(op.after.value))
        throw new RenderError(`sysctl ${op.after.name}: the value holds a line break`);
      return [{ name: checkedName(op.after.name), value: op.after.value }];
    },
  },
  describe: (o) => `${o.name} = ${o.value}`,
  disruption: () => "in-place",
  affectsLookup: () => false,
  slot: (o) => `sysctl ${o.name}`,
  policyRef: (o) => {
    const iface = sysctlInterface(o.name);
    return { setting: o.name, ...(iface === undefined ? {} : { iface }) };
  },
  show: {
    place: 11,
    // Global ones, "all", and those of the links shown.
    keep: (o, ctx) => {
      const m = /^net\.ipv[46]\.conf\.([^.]+)\./.exec(o.name);
      return m === null || m[1] === "all" || ctx.links.has(m[1] as string);
    },
    sections: (sysctls) => [{ title: "Sysctls", lines: columns(sysctls.map((x) => [x.name, x.value])) }],
  },
  cleanup: "keep",
};
