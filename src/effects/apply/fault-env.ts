// The executor's fault hook as tests set it from outside a process (`apply` and `run` read it).
import { existsSync } from "node:fs";
import type { FaultHook } from "./execute.js";

/** Test hook (docs/apply.md): BACKHAUL_FAULT="fail-at:K" or "pause-at:K:FILE" (wait until FILE exists). */
export const FAULT_ENV = "BACKHAUL_FAULT";

export function faultFromEnv(spec: string | undefined, log: (line: string) => void): FaultHook | undefined {
  if (spec === undefined || spec === "") return undefined;
  const m = /^(fail|pause)-at:(\d+)(?::(.+))?$/.exec(spec);
  if (m === null || (m[1] === "pause" && m[3] === undefined))
    throw new Error(`${FAULT_ENV}=${spec}: expected "fail-at:K" or "pause-at:K:FILE"`);
  const at = Number(m[2]);
  if (m[1] === "fail") return { at, run: () => Promise.resolve("fail") };
  const file = m[3]!;
  return {
    at,
    run: async () => {
      log(`fault hook: paused before op ${at} until ${file} exists`);
      while (!existsSync(file)) await new Promise((r) => setTimeout(r, 20));
      return "continue";
    },
  };
}
