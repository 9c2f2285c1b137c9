// A git sync tool at work, as a process of its own: it writes revision after revision of a
// three-file policy directory until it is stopped (SIGTERM), then prints how many it wrote.
//   node --import tsx policy-writer.ts rename DIR   each file written aside and renamed in, one by one
//   node --import tsx policy-writer.ts swap LINK    each revision a new directory, LINK swapped to it
//                                                   atomically, the old directory then removed (git-sync)
// Every value of revision r carries r (policyRevision), so a reader can tell a mixed revision.
import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { policyRevision } from "./policy-revision.js";

const [mode, target] = process.argv.slice(2);
if ((mode !== "rename" && mode !== "swap") || target === undefined) {
  process.stderr.write("usage: policy-writer.ts rename DIR | swap LINK\n");
  process.exit(1);
}

let stop = false;
process.on("SIGTERM", () => {
  stop = true;
});

const pause = (ms: number): Promise<void> => new Promise((ok) => setTimeout(ok, ms));
/** Between files of one revision: a moment; between revisions: sometimes long enough to settle. */
const gap = (max: number): number => Math.floor(Math.random() * max);

let revisions = 0;
for (let r = 1; !stop; r++) {
  const files = policyRevision(r);
  if (mode === "rename") {
    for (const [name, text] of Object.entries(files)) {
      const aside = join(target, `.${name}.tmp`);
      writeFileSync(aside, text);
      renameSync(aside, join(target, name));
      await pause(gap(4));
    }
  } else {
    const rev = join(dirname(target), `rev-${r}`);
    mkdirSync(rev);
    for (const [name, text] of Object.entries(files)) writeFileSync(join(rev, name), text);
    const next = `${target}.next`;
    symlinkSync(basename(rev), next);
    renameSync(next, target);
    if (r > 1) rmSync(join(dirname(target), `rev-${r - 1}`), { recursive: true, force: true });
  }
  revisions = r;
  await pause(gap(250));
}
process.stdout.write(`${revisions}\n`);
