import { afterEach, describe, expect, it } from "vitest";
import { kernelUnavailable, requireKernel } from "../helpers/kernel.js";

const MISSING = ["bhl-no-such-tool"];

describe("requireKernel", () => {
  const ci = process.env["CI"];
  afterEach(() => {
    if (ci === undefined) delete process.env["CI"];
    else process.env["CI"] = ci;
  });

  it("names what is missing", () => {
    expect(kernelUnavailable(MISSING)).toMatch(/root|bhl-no-such-tool/);
  });

  it("makes a kernel test fail under CI=true instead of skipping it", () => {
    process.env["CI"] = "true";
    expect(() => requireKernel(MISSING)).toThrow(/^kernel tests cannot run: /);
  });

  it("lets a kernel test skip outside CI", () => {
    delete process.env["CI"];
    expect(requireKernel(MISSING)).toBe(false);
  });
});
