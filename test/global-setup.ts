// Once per test run, before any test: build the CLI from the sources (test/helpers/cli.ts starts the
// build, hundreds of times). Incremental: a run after a small edit rebuilds in a few seconds.
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

export default function setup(): void {
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  execFileSync(
    process.execPath,
    [
      tsc,
      "-p",
      "tsconfig.build.json",
      "--incremental",
      "--tsBuildInfoFile",
      "node_modules/.cache/backhaul-test-build.tsbuildinfo",
    ],
    { cwd: ROOT, stdio: "inherit" },
  );
}
