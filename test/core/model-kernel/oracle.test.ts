// The kernel is the oracle for the model: generated states are loaded into one lab namespace (reset
// between states) and the model's lookups are compared with `ip route get` for many flows: with and
// without a source, mark, bound to a link (oif), and forwarded from a link (iif).
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ModelKernel, type LookupQuery } from "../../../src/core/model-kernel/index.js";
import type { KernelState } from "../../../src/kinds/types.js";
import { addNamespace, deleteNamespace, newLabId } from "../../../src/lab/netns.js";
import { run } from "../../../src/effects/exec.js";
import { kernelStateArb, probeQueries } from "../../arbitraries/kernel-state.js";
import { kernelAvailable, kernelUnavailableReason, mustRunKernelTests } from "../../support/kernel-lab.js";
import { disagreement, kernelLookups, loadState, resetNamespace } from "./oracle-lab.js";

const STATES = Number(process.env.ORACLE_STATES ?? 200);
const SEED = Number(process.env.ORACLE_SEED ?? 20261123);

describe.runIf(kernelAvailable || mustRunKernelTests)("model kernel against the real kernel", () => {
  const ns = newLabId();

  beforeAll(async () => {
    if (!kernelAvailable) throw new Error(`the oracle cannot run: ${kernelUnavailableReason()}`);
    await addNamespace(ns);
    // A node with uplinks and a hotspot forwards: input lookups (iif) need it, and IPv6 then picks
    // routes without weighing router reachability.
    await run(["sysctl", "-q", "-w", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"], {
      netns: ns,
    });
  });
  afterAll(async () => {
    if (kernelAvailable) await deleteNamespace(ns);
  });

  it(
    `agrees with ip route get on ${STATES} generated states (seed ${SEED})`,
    { timeout: 120_000 },
    async () => {
      const states = fc.sample(kernelStateArb(), { numRuns: STATES, seed: SEED });
      const problems: string[] = [];
      let lookups = 0;
      let disagreements = 0;
      let prev: KernelState | undefined;
      for (const [n, s] of states.entries()) {
        await resetNamespace(ns, prev);
        prev = s;
        await loadState(ns, s);
        const qs: LookupQuery[] = probeQueries(s);
        const answers = await kernelLookups(ns, qs);
        const model = ModelKernel.from(s);
        qs.forEach((q, i) => {
          const why = disagreement(s, model.lookup(q), answers[i]!);
          if (why) disagreements++;
          if (why && problems.length < 5)
            problems.push(`state #${n} ${JSON.stringify(q)}: ${why}\n${JSON.stringify(s)}`);
        });
        lookups += qs.length;
      }
      console.log(`oracle: ${states.length} states, ${lookups} lookups, ${disagreements} disagreements`);
      expect(problems).toEqual([]);
    },
  );
});
