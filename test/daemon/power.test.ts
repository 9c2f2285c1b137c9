import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { onBattery } from "../../src/daemon/power.js";

describe("on battery (probes.batteryFactor)", () => {
  const root = mkdtempSync(join(tmpdir(), "bhl-power-"));
  const supply = (name: string, files: Record<string, string>) => {
    mkdirSync(join(root, name), { recursive: true });
    for (const [f, v] of Object.entries(files)) writeFileSync(join(root, name, f), `${v}\n`);
  };
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it("is true only while a battery discharges, read from the kernel's power-supply class", () => {
    supply("AC", { type: "Mains", online: "0" });
    supply("BAT0", { type: "Battery", status: "Charging" });
    expect(onBattery(root)).toBe(false);
    supply("BAT0", { type: "Battery", status: "Discharging" });
    expect(onBattery(root)).toBe(true);
  });

  it("is false on a node without power-supply information", () => {
    expect(onBattery(join(root, "missing"))).toBe(false);
  });
});
