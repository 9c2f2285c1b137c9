// `backhaul plan`: what apply would change, and why, without changing anything.
import { resolve } from "node:path";
import type { Command } from "commander";
import { writeTextAtomic } from "../../effects/state/durable-file.js";
import { pointersFor, sourcesFor } from "../../core/plan/explain.js";
import { planNode, type PlanNodeResult } from "../plan-session.js";
import type { Change, PlanDocument } from "../../core/plan/document.js";
import { renderHuman } from "../plan-view.js";
import { DEFAULT_POLICY_PATH } from "../../policy/load.js";
import { formatHuman, formatJson } from "../diagnostics.js";
import { EXIT } from "../exit.js";
import { currentNetns } from "../../effects/netns.js";
import { loadRecordedState, type RecordedNode } from "../../core/recorded-state.js";
import { readRegularFile } from "../../policy/read-file.js";

export interface PlanOptions {
  readonly json?: boolean;
  readonly out?: string;
  readonly detailedExitcode?: boolean;
  readonly assumeHealth?: string;
  readonly explain?: boolean;
  /** A recorded node state (`show --json --all`) to plan against instead of this kernel. */
  readonly against?: string;
}

/** A recorded state can be large (a full routing table); this bounds what is read into memory. */
const RECORDED_MAX_BYTES = 256 * 1024 * 1024;

/** The SSH peer of the operator's session, if any: "client-ip client-port server-ip server-port". */
export function sshPeer(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const peer = env["SSH_CONNECTION"]?.trim().split(/\s+/)[0];
  return peer === undefined || peer === "" ? undefined : peer;
}

type Planned = Extract<PlanNodeResult, { ok: true }>;

type PlanOutput = { exitCode: number; stdout: string; stderr: string };

/** The recorded node state `--against` names, or what to print when it cannot be planned against. */
function recordedNode(file: string, json: boolean): RecordedNode | PlanOutput {
  const read = readRegularFile(file, RECORDED_MAX_BYTES);
  if (!read.ok)
    return { exitCode: EXIT.error, stdout: "", stderr: `backhaul plan: --against ${read.message}\n` };
  const r = loadRecordedState(read.text, file);
  if (r.ok) return r;
  const texts = new Map([[file, read.text]]);
  return json
    ? {
        exitCode: EXIT.error,
        stdout: `${JSON.stringify(formatJson(r.diagnostics, texts, undefined), null, 2)}\n`,
        stderr: "",
      }
    : {
        exitCode: EXIT.error,
        stdout: "",
        stderr: `${formatHuman(r.diagnostics, texts, false)}\n${file}: not a recorded node state, nothing planned\n`,
      };
}

/** The plan document, with each change's policy sources when asked. */
export function documentOf(r: Planned, explain: boolean): PlanDocument {
  if (!r.pass.ok) throw new Error("no plan");
  const doc = r.pass.document;
  if (!explain) return doc;
  const active = r.pass.desired.selection.active.map((a) => a.name);
  const changes = doc.changes.map((c): Change => ({
    ...c,
    policy_sources: sourcesFor(pointersFor(c, r.layout, r.policy, active), r.sources),
  }));
  return { ...doc, changes };
}

function healthLines(r: Planned): string[] {
  if (!r.pass.ok && r.pass.error === undefined) return [];
  const sel = r.pass.desired.selection;
  const source = { assumed: "assumed", daemon: "from the running daemon", probed: "from one probe round" };
  const node = r.against === undefined ? "" : `, against ${r.against.file}`;
  const lines = [`Uplinks (health ${source[r.healthSource]}${node}):`];
  for (const v of sel.verdicts) {
    const score = v.score === undefined || v.reason.startsWith("score") ? "" : ` score ${v.score.total}`;
    lines.push(`  ${v.usable ? "●" : "○"} ${v.name} (${v.iface})${score}: ${v.reason}`);
  }
  lines.push(`Selection: ${sel.reason}`, "");
  return lines;
}

export async function runPlan(path: string, o: PlanOptions): Promise<PlanOutput> {
  const against = o.against === undefined ? undefined : recordedNode(o.against, o.json === true);
  if (against !== undefined && "exitCode" in against) return against;
  // Against a recorded node, this session's SSH peer is not the node's operator.
  const peer = against === undefined ? sshPeer() : undefined;
  const r = await planNode({
    policyPath: path,
    ...(o.assumeHealth === undefined ? {} : { assumeHealth: o.assumeHealth }),
    ...(peer === undefined ? {} : { managementPeer: peer }),
    ...(currentNetns() === undefined ? {} : { netnsName: currentNetns() }),
    ...(against === undefined ? {} : { against }),
  });
  if (!r.ok) {
    const stdout = o.json
      ? `${JSON.stringify(formatJson(r.diagnostics, r.texts, undefined), null, 2)}\n`
      : "";
    const stderr = o.json
      ? ""
      : `${formatHuman(r.diagnostics, r.texts, false)}\n${path}: invalid policy, nothing planned\n`;
    return { exitCode: EXIT.error, stdout, stderr };
  }
  if (!r.pass.ok) {
    const e = r.pass.error;
    const detail =
      e.reason === "invariant"
        ? `\n  the plan would break an invariant at step ${e.step}:\n${e.violations.map((v) => `    ${v}`).join("\n")}`
        : `\n${e.conflicts.map((c) => `    ${JSON.stringify(c)}`).join("\n")}`;
    return { exitCode: EXIT.error, stdout: "", stderr: `backhaul plan: refused: ${e.message}${detail}\n` };
  }
  const doc: PlanDocument = { ...documentOf(r, o.explain === true), policy_file: resolve(path) };
  // Our services are observed under the state directory: recorded under another, they look absent.
  const recordedDir = r.against?.stateDir;
  const note =
    recordedDir !== undefined && recordedDir !== r.policy.daemon.stateDir
      ? `backhaul plan: note: ${r.against!.file} was recorded with --state-dir ${recordedDir}, the policy's daemon.stateDir is ${r.policy.daemon.stateDir}: backhaul's services on the node were looked for under ${recordedDir}\n`
      : "";
  if (o.out !== undefined) writeTextAtomic(o.out, `${JSON.stringify(doc, null, 2)}\n`, 0o600);
  const changed = doc.changes.length > 0;
  const exitCode = changed && o.detailedExitcode ? EXIT.changes : EXIT.ok;
  if (o.json) return { exitCode, stdout: `${JSON.stringify(doc, null, 2)}\n`, stderr: note };
  const explain = o.explain
    ? (c: Change) => (c.policy_sources ?? []).map((s) => `${s.file}:${s.line}:${s.column} (${s.pointer})`)
    : undefined;
  const saved =
    o.out === undefined ? [] : [`Saved the plan to ${o.out}: apply it with \`backhaul apply ${o.out}\`.`];
  return {
    exitCode,
    stdout: [...healthLines(r), renderHuman(doc, explain), ...saved].join("\n"),
    stderr: note,
  };
}

export function registerPlan(program: Command): void {
  program
    .command("plan")
    .description("Show the changes apply would make to the kernel, and why; change nothing")
    .argument("[policy]", "policy file or directory", DEFAULT_POLICY_PATH)
    .option("--json", "print the plan as a versioned JSON document (schemas/plan.schema.json)")
    .option("--out <file>", "save the plan for `backhaul apply FILE`")
    .option("--detailed-exitcode", "exit 2 when there are changes, 0 when there are none")
    .option("--assume-health <spec>", 'skip probing: "up", "down", "up:NAME,down:NAME", ...')
    .option("--explain", "name the policy lines (file:line:col) behind each change")
    .option(
      "--against <file>",
      "plan against a recorded node state (`backhaul show --json --all` saved from the node), without root or a kernel; needs --assume-health",
    )
    .option("--netns <name>", "plan for this network namespace")
    .action(async (path: string, o: PlanOptions) => {
      const r = await runPlan(path, o);
      process.stdout.write(r.stdout);
      process.stderr.write(r.stderr);
      process.exitCode = r.exitCode;
    });
}
