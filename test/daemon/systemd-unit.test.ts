// The example unit agrees with the policy's defaults and passes systemd's own checks.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { DEFAULT_POLICY_PATH } from "../../src/policy/index.js";
import { run } from "../../src/effects/exec.js";
import { requireTools } from "../helpers/kernel.js";

const ROOT = join(import.meta.dirname, "../..");
const UNIT_FILE = join(ROOT, "examples/systemd/backhaul.service");
const UNIT = readFileSync(UNIT_FILE, "utf8");
const SCHEMA = JSON.parse(readFileSync(join(ROOT, "schemas/policy.schema.json"), "utf8")) as {
  $defs: { daemon: { properties: Record<string, { default: string }> } };
};
const DEFAULTS = SCHEMA.$defs.daemon.properties;

function setting(key: string): string {
  const values = [...UNIT.matchAll(new RegExp(`^${key}=(.*)$`, "gm"))].map((m) => m[1]);
  expect(values, key).toHaveLength(1);
  return values[0] ?? "";
}

describe("the example systemd unit", () => {
  it("runs the daemon on the default policy path as a notify service with a watchdog", () => {
    expect(setting("ExecStart")).toBe(`/usr/bin/backhaul run ${DEFAULT_POLICY_PATH}`);
    expect(setting("Type")).toBe("notify");
    expect(setting("NotifyAccess")).toBe("all");
    expect(setting("WatchdogSec")).toMatch(/^\d+s$/);
    expect(setting("Restart")).toBe("on-failure");
  });

  it("gives the service user the network capabilities and nothing more", () => {
    expect(setting("User")).not.toBe("root");
    expect(setting("AmbientCapabilities")).toBe("CAP_NET_ADMIN CAP_NET_RAW");
    expect(setting("CapabilityBoundingSet")).toBe("CAP_NET_ADMIN CAP_NET_RAW");
    expect(setting("NoNewPrivileges")).toBe("yes");
    expect(setting("ProtectSystem")).toBe("strict");
  });

  it("provides the policy's default state directory and status socket directory", () => {
    expect(`/var/lib/${setting("StateDirectory")}`).toBe(DEFAULTS["stateDir"]?.default);
    expect(`/run/${setting("RuntimeDirectory")}`).toBe(dirname(DEFAULTS["statusSocket"]?.default ?? ""));
    expect(setting("ReadWritePaths").split(" ")).toEqual([
      DEFAULTS["stateDir"]?.default,
      dirname(DEFAULTS["statusSocket"]?.default ?? ""),
    ]);
  });

  it.skipIf(!requireTools(["systemd-analyze"]))("passes systemd-analyze verify", async () => {
    // The binary is not installed here: verify the same unit with a command that exists.
    const dir = mkdtempSync(join(tmpdir(), "bh-unit-"));
    writeFileSync(join(dir, "backhaul.service"), UNIT.replace("/usr/bin/backhaul", "/bin/true"));
    const r = await run(["systemd-analyze", "verify", join(dir, "backhaul.service")], { allowFailure: true });
    expect({ exitCode: r.exitCode, stderr: r.stderr.trim() }).toEqual({ exitCode: 0, stderr: "" });
  });
});
