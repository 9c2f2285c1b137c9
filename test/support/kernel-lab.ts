// Whether kernel tests can run here: root and iproute2. Under CI=true a kernel test that cannot run
// fails instead of skipping.
import { execFileSync } from "node:child_process";

function hasIp(): boolean {
  try {
    execFileSync("ip", ["-V"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

export const kernelAvailable: boolean = process.getuid?.() === 0 && hasIp();
export const mustRunKernelTests: boolean = process.env.CI === "true";

/** Why kernel tests cannot run, for the failure message under CI. */
export function kernelUnavailableReason(): string {
  return process.getuid?.() !== 0 ? "kernel tests need root" : "iproute2 (ip) is missing";
}
