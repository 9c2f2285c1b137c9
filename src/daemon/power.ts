// Whether the node runs on battery: probes are stretched then (probes.batteryFactor). Read from the
// kernel's power-supply class: a battery that is discharging.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const read = (path: string): string | undefined => {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return undefined;
  }
};

export function onBattery(root = "/sys/class/power_supply"): boolean {
  let supplies: string[];
  try {
    supplies = readdirSync(root);
  } catch {
    return false;
  }
  return supplies.some(
    (s) => read(join(root, s, "type")) === "Battery" && read(join(root, s, "status")) === "Discharging",
  );
}
