// The corpus of bad policies: each file's first line says where the error is and what it says.
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { loadPolicy } from "../../src/policy/load.js";

const dir = new URL("./bad/", import.meta.url).pathname;
const cases = readdirSync(dir)
  .filter((f) => f.endsWith(".yaml"))
  .sort()
  .map((f) => {
    const header = /^# expect: (\d+):(\d+) (.+)\n/.exec(readFileSync(dir + f, "utf8"));
    if (!header) throw new Error(`${f}: the first line must be "# expect: LINE:COL message"`);
    return { file: f, line: Number(header[1]), column: Number(header[2]), message: header[3]! };
  });

describe("bad policies", () => {
  it("the corpus holds at least 40 cases", () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
  });

  it.each(cases)(
    "$file is refused at $line:$column with its message",
    async ({ file, line, column, message }) => {
      const result = await loadPolicy(dir + file);
      expect(result.ok).toBe(false);
      const hits = result.diagnostics.filter((d) => d.severity === "error" && d.summary.includes(message));
      expect(hits.map((d) => `${d.location?.start.line}:${d.location?.start.column}`)).toContain(
        `${line}:${column}`,
      );
      for (const d of result.diagnostics) expect(d.location?.file).toBe(dir + file);
    },
  );
});
