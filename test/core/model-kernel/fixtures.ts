import type { Address, KernelState, Link, Route, Rule, Sysctl } from "../../../src/kinds/types.js";
import { emptyState } from "../../../src/kinds/types.js";
import { defaultRules } from "../../../src/core/model-kernel/index.js";

export const link = (name: string, o: Partial<Link> = {}): Link => ({
  kind: "link",
  name,
  index: 2,
  linkClass: "ethernet",
  adminUp: true,
  carrier: true,
  operState: "up",
  mtu: 1500,
  ...o,
});
export const addr = (dev: string, local: string): Address => ({
  kind: "address",
  family: local.includes(":") ? 6 : 4,
  dev,
  local,
  scope: "global",
});
export const route = (dst: string, o: Partial<Route> = {}): Route => ({
  kind: "route",
  family: dst.includes(":") ? 6 : 4,
  table: 254,
  type: "unicast",
  dst,
  metric: 0,
  protocol: 200,
  scope: "global",
  ...o,
});
export const rule = (priority: number, o: Partial<Rule> = {}): Rule => ({
  kind: "rule",
  family: 4,
  priority,
  action: "lookup",
  table: 254,
  protocol: 200,
  ...o,
});
export const sysctl = (name: string, value = "1"): Sysctl => ({ kind: "sysctl", name, value });

export function state(p: Partial<KernelState>): KernelState {
  return { ...emptyState(), rule: defaultRules(), ...p };
}
