// The demo policy as tests use it. Tests of apply's and the daemon's own machinery (op indexes, fault
// injection, journals, drift) need a plan that does not change by itself; the demo's phone takes its
// address from DHCP, whose lease lands a moment after the client starts. Those tests use the demo
// policy with the phone's addressing external (no client, no lease: the phone stays unusable, as a
// phone without an address is); the DHCP client's own tests use the demo policy as it is.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const DEMO_POLICY_FILE = new URL("../../examples/lab-demo.yaml", import.meta.url).pathname;

/** The policy text without DHCP clients: every `addressing: dhcp` made external. */
export const withoutDhcp = (text: string): string =>
  text.replaceAll("addressing: dhcp", "addressing: external");

let staticPath: string | undefined;

/** The demo policy with the phone's addressing external, written once per test process (same file name). */
export function staticDemoPolicy(): string {
  if (staticPath !== undefined) return staticPath;
  const dir = mkdtempSync(join(tmpdir(), "bhl-demo-static-"));
  mkdirSync(dir, { recursive: true });
  const path = join(dir, "lab-demo.yaml");
  writeFileSync(path, withoutDhcp(readFileSync(DEMO_POLICY_FILE, "utf8")));
  return (staticPath = path);
}
