// Kernel tests need root and the network tools. Locally they skip without them; with CI=true they
// must fail instead, so a CI machine that cannot run them never passes silently.
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

const TOOLS = ["ip", "tc", "nft", "find", "grep"];

function onPath(tool: string): boolean {
  return (process.env["PATH"] ?? "").split(delimiter).some((d) => {
    try {
      accessSync(join(d, tool), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Why kernel tests cannot run here, or undefined when they can. */
export function kernelUnavailable(extraTools: readonly string[] = []): string | undefined {
  if (process.getuid?.() !== 0) return "not running as root";
  const missing = [...TOOLS, ...extraTools].filter((t) => !onPath(t));
  return missing.length > 0 ? `missing tools: ${missing.join(", ")}` : undefined;
}

/** True when kernel tests can run; false (skip) locally when they cannot; throws under CI=true. */
export function requireKernel(extraTools: readonly string[] = []): boolean {
  const why = kernelUnavailable(extraTools);
  if (why === undefined) return true;
  if (process.env["CI"] === "true") throw new Error(`kernel tests cannot run: ${why}`);
  return false;
}
