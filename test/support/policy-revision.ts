// Revision r of a three-file policy directory, every file marked with r in one of its values, and
// the revision a loaded policy is made of, read back from those values (undefined: a mix).
import type { EffectivePolicy } from "../../src/policy/types.js";

/** The files of revision r (r ≥ 1), by name. */
export function policyRevision(r: number): Record<string, string> {
  return {
    "10-uplinks.yaml": `version: 1\nuplinks:\n  - name: fibre-r${r}\n    interface: eth0\n    gateway: 100.64.1.1\n`,
    "20-probes.yaml": `probes:\n  targets: [tcp://198.51.100.10:443]\n  interval: ${10 + r}s\n  timeout: 2s\n`,
    "30-daemon.yaml": `daemon:\n  resyncInterval: ${30 + r}s\n`,
  };
}

/** The one revision every file of a loaded policy comes from, or undefined when they differ. */
export function revisionOf(p: EffectivePolicy): number | undefined {
  const fromName = Number(/^fibre-r(\d+)$/.exec(p.uplinks[0]?.name ?? "")?.[1]);
  const fromInterval = p.probes.interval / 1000 - 10;
  const fromResync = p.daemon.resyncInterval / 1000 - 30;
  return fromName === fromInterval && fromInterval === fromResync ? fromName : undefined;
}
