#!/usr/bin/env node
// The backhaul command. Each verb lives in its own module under ./commands and registers itself here.
import { Command, CommanderError } from "commander";
import { EXIT } from "./exit.js";
import { currentNetns } from "../effects/netns.js";
import { extractNetns, reexecInNetns } from "./in-netns.js";
import { registerVersion } from "./commands/version.js";
import { registerShow } from "./commands/show.js";
import { registerValidate } from "./commands/validate.js";
import { registerPlan } from "./commands/plan.js";
import { registerDrift } from "./commands/drift.js";
import { registerLab } from "./commands/lab.js";
import { registerApply, registerForceUnlock } from "./commands/apply.js";
import { registerConfirm, registerRevert } from "./commands/confirm.js";
import { registerRun } from "./commands/run.js";
import { registerStatus } from "./commands/status.js";
import { registerHotspot } from "./commands/hotspot.js";
import { registerVerify } from "./commands/verify.js";
import { registerAdopt } from "./commands/adopt.js";

function buildProgram(): Command {
  const program = new Command("backhaul")
    .description("Declarative reconciler for the network of Linux edge nodes with several uplinks")
    .showHelpAfterError()
    .exitOverride();
  registerVersion(program);
  registerValidate(program);
  registerShow(program);
  registerPlan(program);
  registerDrift(program);
  registerLab(program);
  registerApply(program);
  registerForceUnlock(program);
  registerConfirm(program);
  registerRevert(program);
  registerRun(program);
  registerStatus(program);
  registerHotspot(program);
  registerVerify(program);
  registerAdopt(program);
  return program;
}

async function main(argv: readonly string[]): Promise<number> {
  const userArgs = argv.slice(2);
  let split: ReturnType<typeof extractNetns>;
  try {
    split = extractNetns(userArgs);
  } catch (e) {
    process.stderr.write(`backhaul: ${e instanceof Error ? e.message : String(e)}\n`);
    return EXIT.error;
  }
  const { netns, rest } = split;
  // Verbs that touch the kernel accept --netns: the whole verb re-runs inside that namespace.
  if (netns !== undefined && currentNetns() === undefined && userArgs[0] !== "lab") {
    try {
      return await reexecInNetns(netns, rest);
    } catch (e) {
      process.stderr.write(`backhaul: ${e instanceof Error ? e.message : String(e)}\n`);
      return EXIT.error;
    }
  }
  try {
    await buildProgram().parseAsync(argv as string[]);
    return typeof process.exitCode === "number" ? process.exitCode : EXIT.ok;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT.ok : EXIT.error;
    process.stderr.write(`backhaul: ${e instanceof Error ? e.message : String(e)}\n`);
    return EXIT.error;
  }
}

process.exitCode = await main(process.argv);
