// `backhaul adopt` (also `drift --emit-policy`): observe the node and print a policy that manages its
// uplinks as backhaul would, checked first to leave general traffic where it goes. See docs/adopt.md.
import type { Command } from "commander";
import { adopt, checkAdoption } from "../../core/adopt.js";
import { foreignDhcpClients } from "../../effects/dhcp/foreign-clients.js";
import { currentNetns } from "../../effects/netns.js";
import { observe } from "../../effects/observe.js";
import { parseAssumeHealth } from "../../effects/probe/quick-probe.js";
import { DEFAULT_STATE_DIR } from "../../effects/services.js";
import { EXIT } from "../exit.js";

export interface AdoptOptions {
  /** The health the promise is checked under (default "up": every uplink measures alike). */
  readonly assumeHealth?: string;
  readonly stateDir?: string;
  readonly probe?: readonly string[];
}

export async function runAdopt(
  o: AdoptOptions,
): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const netns = currentNetns();
  const stateDir = o.stateDir ?? DEFAULT_STATE_DIR;
  const observed = await observe({ stateDir });
  const ours = new Set(observed["dhcp-client"].flatMap((c) => (c.pid === undefined ? [] : [c.pid])));
  const a = adopt(observed, {
    dhcpClients: foreignDhcpClients(
      observed.link.map((l) => l.name),
      ours,
    ),
    stateDir,
    ...(netns === undefined ? {} : { netns }),
    ...(o.probe === undefined || o.probe.length === 0 ? {} : { probeTargets: o.probe }),
  });
  const refuse = (why: string) => ({ exitCode: EXIT.error, stdout: "", stderr: `backhaul adopt: ${why}\n` });
  if (!a.ok) return refuse(a.reason);
  const spec = o.assumeHealth ?? "up";
  const now = Date.now();
  let check;
  try {
    check = checkAdoption(observed, a.text, (names) => parseAssumeHealth(spec, names, now), netns);
  } catch (e) {
    return refuse(e instanceof Error ? e.message : String(e));
  }
  if (!check.ok) return refuse(`refused, the policy would move general traffic: ${check.reason}`);
  const routes = check.routes
    .filter((r) => r.nexthops.length > 0)
    .map((r) => `${r.dst} ${r.path}`)
    .join("; ");
  return {
    exitCode: EXIT.ok,
    stdout: a.text,
    stderr: `backhaul adopt: ${a.uplinks.map((u) => u.name).join(", ")}; general traffic stays as it goes now (${routes}) with health ${spec}\n`,
  };
}

export function registerAdopt(program: Command): void {
  program
    .command("adopt")
    .description("Print a policy for the node as it is: its uplinks, in the order traffic uses them now")
    .option(
      "--assume-health <spec>",
      'health the policy is checked under: "up" (default), "up:NAME,down:NAME", ...',
    )
    .option(
      "--probe <url>",
      "a probe target to write (repeat for more; default two public ones)",
      (v: string, acc: string[] = []) => [...acc, v],
    )
    .option("--state-dir <dir>", "where backhaul keeps its service files", DEFAULT_STATE_DIR)
    .option("--netns <name>", "adopt this network namespace")
    .action(async (o: AdoptOptions) => {
      const r = await runAdopt(o);
      process.stdout.write(r.stdout);
      process.stderr.write(r.stderr);
      process.exitCode = r.exitCode;
    });
}
