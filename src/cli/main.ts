#!/usr/bin/env node
// The backhaul command. Each verb lives in its own module under ./commands and registers itself here.
import { Command, CommanderError } from "commander";
import { EXIT } from "./exit.js";
import { registerVersion } from "./commands/version.js";
import { registerLab } from "./commands/lab.js";

const program = new Command("backhaul")
  .description("Declarative reconciler for the network of Linux edge nodes with several uplinks")
  .showHelpAfterError()
  .exitOverride();

registerVersion(program);
registerLab(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    process.exitCode = e.exitCode === 0 ? EXIT.ok : EXIT.error;
  } else {
    process.stderr.write(`backhaul: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = EXIT.error;
  }
}
