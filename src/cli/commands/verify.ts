// `backhaul verify [POLICY] [--runs N] [--seed S] [--against show.json] [--json | --format github|sarif]`:
// does this policy keep the node online under every failure sequence? No root and no kernel: the
// daemon's own decision step in simulated time on the model kernel (core/verify/verify.ts), from a
// node built from the policy or one recorded by `show --json --all`. Exit 0 when every history held, 2
// with a shrunk counterexample, 1 on an error (an invalid policy or recorded node says where).
import type { Command } from "commander";
import { sourcesFor } from "../../core/plan/explain.js";
import { verifyPolicy, type RecordedStart } from "../../core/verify/verify.js";
import { loadRecordedState } from "../../core/recorded-state.js";
import { readRegularFile } from "../../policy/read-file.js";
import { DEFAULT_POLICY_PATH, loadPolicy } from "../../policy/load.js";
import { positionOf } from "../../policy/source.js";
import { formatHuman, formatSarif } from "../diagnostics.js";
import type { Diagnostic } from "../../policy/types.js";
import { version } from "./validate.js";
import { EXIT } from "../exit.js";

export interface VerifyCliOptions {
  readonly runs?: string;
  readonly seed?: string;
  readonly json?: boolean;
  readonly format?: string;
  readonly against?: string;
}

const DEFAULT_RUNS = 100;
/** A recorded node is one observation: a large routing table still fits. */
const RECORDED_MAX_BYTES = 256 * 1024 * 1024;

/** The recorded node `--against` names, or the error already printed (undefined). */
function recorded(file: string): RecordedStart | undefined {
  const read = readRegularFile(file, RECORDED_MAX_BYTES);
  if (!read.ok) {
    process.stderr.write(`backhaul verify: --against ${read.message}\n`);
    return undefined;
  }
  const r = loadRecordedState(read.text, file);
  if (r.ok) return { observed: r.observed, netns: r.netns };
  process.stderr.write(
    `${formatHuman(r.diagnostics, new Map([[file, read.text]]), false)}\n${file}: not a recorded node state, nothing verified\n`,
  );
  return undefined;
}

function integer(text: string | undefined, name: string, min: number): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || Number(text) < min || !Number.isSafeInteger(Number(text)))
    throw new Error(`${name} ${JSON.stringify(text)}: expected a whole number of at least ${min}`);
  return Number(text);
}

export async function verifyCommand(policyPath: string, o: VerifyCliOptions): Promise<number> {
  let runs: number;
  let seed: number;
  try {
    if (o.format !== undefined && !["text", "github", "sarif"].includes(o.format))
      throw new Error(`--format ${JSON.stringify(o.format)}: expected text, github or sarif`);
    runs = integer(o.runs, "--runs", 1) ?? DEFAULT_RUNS;
    seed = integer(o.seed, "--seed", 0) ?? Math.floor(Math.random() * 2 ** 31);
  } catch (e) {
    process.stderr.write(`backhaul verify: ${e instanceof Error ? e.message : String(e)}\n`);
    return EXIT.error;
  }
  const loaded = await loadPolicy(policyPath);
  if (!loaded.ok) {
    process.stderr.write(formatHuman(loaded.diagnostics, loaded.texts, false));
    return EXIT.error;
  }
  const against = o.against === undefined ? undefined : recorded(o.against);
  if (o.against !== undefined && against === undefined) return EXIT.error;
  const r = verifyPolicy(loaded.policy, { runs, seed, ...(against === undefined ? {} : { against }) });
  // The lines the policy wrote (a setting left at its default has none).
  const written = r.ok
    ? []
    : r.counterexample.violation.pointers.filter((p) => positionOf(loaded.sources, p)?.exact);
  const sources = sourcesFor(written, loaded.sources);
  if (o.json === true) {
    process.stdout.write(
      `${JSON.stringify({ policy: policyPath, ...r, ...(r.ok ? {} : { sources }) }, null, 2)}\n`,
    );
    return r.ok ? EXIT.ok : EXIT.changes;
  }
  if (r.ok && o.format === "sarif") {
    // Code scanning needs a log on success too: an empty one closes the alerts of an earlier run.
    process.stdout.write(`${JSON.stringify(formatSarif([], version()), null, 2)}\n`);
    return EXIT.ok;
  }
  if (r.ok) {
    process.stdout.write(
      `${policyPath}: verified: ${r.runs} generated histories held every property${o.against === undefined ? "" : ` from ${o.against}`} (seed ${r.seed})\n`,
    );
    return EXIT.ok;
  }
  const c = r.counterexample;
  const from = o.against === undefined ? "" : ` --against ${o.against}`;
  const replay = `backhaul verify ${policyPath}${from} --seed ${c.seed} --runs ${r.runs}`;
  if (o.format === "sarif") {
    // One result per deciding line, so code scanning shows it where the policy says it.
    const code = `verify-${c.violation.property}` as const;
    const summary = `${c.violation.message} (replay: ${replay})`;
    const diagnostics: Diagnostic[] =
      written.length > 0
        ? written.map((pointer) => ({
            severity: "error",
            code,
            summary,
            pointer,
            location: positionOf(loaded.sources, pointer)!,
          }))
        : [{ severity: "error", code, summary, pointer: "" }];
    process.stdout.write(`${JSON.stringify(formatSarif(diagnostics, version()), null, 2)}\n`);
    return EXIT.changes;
  }
  if (o.format === "github") {
    for (const s of sources.length > 0 ? sources : [undefined])
      process.stdout.write(
        `::error ${s === undefined ? "" : `file=${s.file},line=${s.line},col=${s.column},`}title=backhaul verify ${c.violation.property}::${c.violation.message} (replay: backhaul verify ${policyPath}${from} --seed ${c.seed})\n`,
      );
    return EXIT.changes;
  }
  process.stdout.write(
    [
      `${policyPath}: counterexample after ${r.runs} histories (shrunk; seed ${c.seed}):`,
      ...c.timeline.map((l) => `  ${l}`),
      "decided by:",
      ...(sources.length > 0
        ? sources.map((s) => `  ${s.file}:${s.line}:${s.column}  ${s.pointer}`)
        : c.violation.pointers.map((p) => `  ${p} (its default: not written in the policy)`)),
      `replay: ${replay}`,
      "",
    ].join("\n"),
  );
  return EXIT.changes;
}

export function registerVerify(program: Command): void {
  program
    .command("verify")
    .description(
      "Prove a policy without root or a kernel: the daemon's own decisions through generated failure histories, every invariant and policy property checked; a shrunk counterexample otherwise",
    )
    .argument("[policy]", "the policy file or directory", DEFAULT_POLICY_PATH)
    .option("--runs <n>", `how many histories (default ${DEFAULT_RUNS})`)
    .option("--seed <s>", "the random seed (default: a new one, printed; the same seed replays)")
    .option(
      "--against <file>",
      "start every history from a recorded node state (`backhaul show --json --all` saved from the node) instead of one built from the policy",
    )
    .option("--json", "print the result as JSON")
    .option(
      "--format <format>",
      "text (default), github (workflow annotations at the policy's lines) or sarif (SARIF 2.1.0 for code scanning)",
    )
    .action(async (policy: string, opts: VerifyCliOptions) => {
      process.exitCode = await verifyCommand(policy, opts);
    });
}
