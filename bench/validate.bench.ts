// Validation time of hostile but size-legal input: `npm run bench validate`. Every file here is within
// the 1 MiB limit and must be refused (or accepted) in well under a second: a large mapping or list is
// refused at the entry limit, a huge value is reported without being quoted whole.
import { performance } from "node:perf_hooks";
import { runValidate } from "../src/cli/commands/validate.js";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const HEAD =
  "uplinks:\n  - name: fibre\n    interface: eth0\nprobes:\n  targets: [tcp://198.51.100.10:443]\n";

const cases: readonly (readonly [string, string])[] = [
  ["9,000 keys in one mapping", `${HEAD}extra:\n${lines(9_000, (i) => `  k${i}: ${i}`)}`],
  ["50,000 keys in one mapping", `${HEAD}extra:\n${lines(50_000, (i) => `  k${i}: ${i}`)}`],
  ["50,000 list items", `${HEAD}extra:\n${lines(50_000, (i) => `  - ${i}`)}`],
  ["a 900 kB SSID", `${HEAD}hotspot:\n  security: open\n  ssid: ${"A".repeat(900_000)}\n`],
  ["the lab demo policy", ""],
];

function lines(n: number, f: (i: number) => string): string {
  return `${Array.from({ length: n }, (_, i) => f(i)).join("\n")}\n`;
}

export async function run(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "bhl-bench-validate-"));
  try {
    for (const [name, text] of cases) {
      const file =
        text === "" ? new URL("../examples/lab-demo.yaml", import.meta.url).pathname : join(dir, "p.yaml");
      if (text !== "") writeFileSync(file, text);
      const times: number[] = [];
      let out = { exitCode: 0, stdout: "" };
      for (let i = 0; i < 5; i++) {
        const t0 = performance.now();
        out = await runValidate(file, { format: "human", printEffective: false, color: false });
        times.push(performance.now() - t0);
      }
      times.sort((a, b) => a - b);
      process.stdout.write(
        `${name.padEnd(28)} median ${times[2]!.toFixed(1).padStart(8)} ms  max ${times[4]!.toFixed(1).padStart(8)} ms  ` +
          `exit ${out.exitCode}, ${out.stdout.length} bytes of output\n`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
