import { afterEach, describe, expect, it } from "vitest";
import { keepWarm, processCounter, run, stopWarm } from "../../src/effects/exec.js";

describe("programs kept started for the next run (keepWarm)", () => {
  afterEach(() => stopWarm());

  it("a run with input takes the waiting program: same output and exit code as a fresh one", async () => {
    keepWarm(["cat"]);
    const before = processCounter.started;
    const r = await run(["cat"], { input: "route replace default via 100.64.2.1\n" });
    expect(r).toEqual({ stdout: "route replace default via 100.64.2.1\n", stderr: "", exitCode: 0 });
    // Counted when it does its work, not while it waits.
    expect(processCounter.started).toBe(before + 1);
    // Another one waits in its place.
    expect((await run(["cat"], { input: "second\n" })).stdout).toBe("second\n");
  });

  it("one that died while waiting is not used: the run starts the program afresh", async () => {
    keepWarm(["false"]);
    await new Promise((r) => setTimeout(r, 200));
    const r = await run(["false"], { input: "", allowFailure: true });
    expect(r.exitCode).toBe(1);
  });

  it("a waiting program that fails on its input reports it like a fresh one (exit code, stderr)", async () => {
    const argv = ["sh", "-c", 'read x; echo "Command failed: $x" >&2; exit 3'];
    keepWarm(argv);
    const r = await run(argv, { input: "route add 100.64.9.0/24 dev nowhere\n", allowFailure: true });
    expect(r).toEqual({
      stdout: "",
      stderr: "Command failed: route add 100.64.9.0/24 dev nowhere\n",
      exitCode: 3,
    });
  });
});
