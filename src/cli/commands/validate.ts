// `backhaul validate [PATH]`: load a policy, report every problem at file:line:col, exit 0 or 1.
import { readFileSync } from "node:fs";
import { Command, Option } from "commander";
import { stringify } from "yaml";
import { EXIT } from "../exit.js";
import { formatGithub, formatHuman, formatJson, formatSarif } from "../diagnostics.js";
import { DEFAULT_POLICY_PATH, loadPolicy } from "../../policy/load.js";
import { toDocument } from "../../policy/normalize.js";

type Format = "human" | "json" | "github" | "sarif";

export interface ValidateOptions {
  readonly format: Format;
  readonly printEffective: boolean;
  readonly color: boolean;
}

export interface ValidateOutput {
  readonly exitCode: number;
  readonly stdout: string;
}

/** backhaul's own version, from its package.json. */
export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

/** The verb without the process around it: what to print and how to exit. */
export async function runValidate(path: string, opts: ValidateOptions): Promise<ValidateOutput> {
  const result = await loadPolicy(path);
  const { diagnostics, texts } = result;
  const exitCode = result.ok ? EXIT.ok : EXIT.error;
  const effective = result.ok && opts.printEffective ? result.policy : undefined;
  switch (opts.format) {
    case "json":
      return { exitCode, stdout: `${JSON.stringify(formatJson(diagnostics, texts, effective), null, 2)}\n` };
    case "sarif":
      return { exitCode, stdout: `${JSON.stringify(formatSarif(diagnostics, version()), null, 2)}\n` };
    case "github": {
      const lines = formatGithub(diagnostics);
      return { exitCode, stdout: lines === "" ? "" : `${lines}\n` };
    }
    case "human": {
      const parts: string[] = [];
      if (diagnostics.length > 0) parts.push(formatHuman(diagnostics, texts, opts.color));
      const errors = diagnostics.filter((d) => d.severity === "error").length;
      const warnings = diagnostics.length - errors;
      const counts = [errors ? `${errors} error(s)` : "", warnings ? `${warnings} warning(s)` : ""]
        .filter(Boolean)
        .join(", ");
      parts.push(
        result.ok ? `${path}: valid${counts ? ` (${counts})` : ""}` : `${path}: invalid (${counts})`,
      );
      if (effective)
        parts.push(
          `# effective policy of ${path}\n${stringify(toDocument(effective), { lineWidth: 0 }).trimEnd()}`,
        );
      return { exitCode, stdout: `${parts.join("\n")}\n` };
    }
  }
}

export function registerValidate(program: Command): void {
  program
    .command("validate")
    .description("check a policy file or directory; exit 0 when valid, 1 when not")
    .argument("[path]", "policy file, or directory of *.yaml files merged in name order", DEFAULT_POLICY_PATH)
    .option("--json", "print a versioned JSON document (same as --format json)")
    .addOption(new Option("--format <format>", "output format").choices(["human", "json", "github", "sarif"]))
    .option("--print-effective", "also print the complete effective policy (defaults filled in)")
    .action(async (path: string, o: { json?: boolean; format?: Format; printEffective?: boolean }) => {
      if (o.json && o.format && o.format !== "json") {
        throw new Error("--json and --format " + o.format + " contradict each other");
      }
      const format: Format = o.json ? "json" : (o.format ?? "human");
      const color = process.stdout.isTTY === true && !("NO_COLOR" in process.env);
      const out = await runValidate(path, { format, printEffective: o.printEffective === true, color });
      process.stdout.write(out.stdout);
      process.exitCode = out.exitCode;
    });
}
