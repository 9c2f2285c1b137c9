// `backhaul drift`: every difference between the live kernel and the state the policy implies, each
// classified (missing, changed, extra, conflict). Changes nothing. See docs/drift.md.
import { resolve } from "node:path";
import type { Command } from "commander";
import { planNode } from "../plan-session.js";
import { driftItems, driftReport } from "../../core/drift.js";
import { DEFAULT_POLICY_PATH } from "../../policy/load.js";
import { formatHuman, formatJson } from "../diagnostics.js";
import { EXIT } from "../exit.js";
import { currentNetns } from "../../effects/netns.js";
import { renderDrift } from "../drift-view.js";
import { runAdopt } from "./adopt.js";

export interface DriftOptions {
  readonly json?: boolean;
  readonly assumeHealth?: string;
  readonly detailedExitcode?: boolean;
  readonly emitPolicy?: boolean;
}

export async function runDrift(
  path: string,
  o: DriftOptions,
): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const netns = currentNetns();
  const r = await planNode({
    policyPath: path,
    ...(o.assumeHealth === undefined ? {} : { assumeHealth: o.assumeHealth }),
    ...(netns === undefined ? {} : { netnsName: netns }),
  });
  if (!r.ok) {
    if (o.json)
      return {
        exitCode: EXIT.error,
        stdout: `${JSON.stringify(formatJson(r.diagnostics, r.texts, undefined), null, 2)}\n`,
        stderr: "",
      };
    return {
      exitCode: EXIT.error,
      stdout: "",
      stderr: `${formatHuman(r.diagnostics, r.texts, false)}\n${path}: invalid policy, nothing compared\n`,
    };
  }
  const desired = r.pass.desired;
  const items = driftItems(r.observed, desired.state, r.inputs.ownership, {
    uplinkSources: desired.selection.verdicts.flatMap((v) =>
      v.attachments.map((a) => a.address.split("/")[0]!),
    ),
  });
  const report = driftReport(items, { policyFile: resolve(path), netns, healthSource: r.healthSource });
  const exitCode = items.length > 0 ? EXIT.changes : EXIT.ok;
  return {
    exitCode,
    stdout: o.json ? `${JSON.stringify(report, null, 2)}\n` : renderDrift(report),
    stderr: "",
  };
}

export function registerDrift(program: Command): void {
  program
    .command("drift")
    .description("Report every difference between the kernel and the policy's state; change nothing")
    .argument("[policy]", "policy file or directory", DEFAULT_POLICY_PATH)
    .option("--json", "print the report as a versioned JSON document (schemas/drift.schema.json)")
    .option("--assume-health <spec>", 'skip probing: "up", "down", "up:NAME,down:NAME", ...')
    .option("--detailed-exitcode", "exit 2 when there is drift, 0 when there is none (always so for drift)")
    .option("--netns <name>", "compare this network namespace")
    .option("--emit-policy", "print a policy for the node as it is instead (backhaul adopt; POLICY unused)")
    .action(async (path: string, o: DriftOptions) => {
      const r = o.emitPolicy
        ? await runAdopt(o.assumeHealth === undefined ? {} : { assumeHealth: o.assumeHealth })
        : await runDrift(path, o);
      process.stdout.write(r.stdout);
      process.stderr.write(r.stderr);
      process.exitCode = r.exitCode;
    });
}
