import { describe, expect, it } from "vitest";
import { extractNetns } from "../../src/cli/in-netns.js";
import { validNetnsName } from "../../src/effects/netns.js";

describe("--netns handling", () => {
  it("takes --netns NAME and --netns=NAME out of the arguments", () => {
    expect(extractNetns(["show", "--netns", "bhl1-node", "--json"])).toEqual({
      netns: "bhl1-node",
      rest: ["show", "--json"],
    });
    expect(extractNetns(["plan", "--netns=lab", "p.yaml"])).toEqual({
      netns: "lab",
      rest: ["plan", "p.yaml"],
    });
  });
  it("leaves arguments after -- alone", () => {
    expect(extractNetns(["show", "--", "--netns", "x"])).toEqual({ rest: ["show", "--", "--netns", "x"] });
  });
  it("refuses --netns without a name", () => {
    expect(() => extractNetns(["show", "--netns"])).toThrow(/needs a namespace name/);
  });
  it("accepts namespace names iproute2 accepts and refuses paths and injections", () => {
    expect(validNetnsName("bhl1a2b3c-node")).toBe(true);
    for (const bad of ["", "..", "a/b", "x;reboot", "$(id)", "a b", "-x"])
      expect(validNetnsName(bad)).toBe(false);
  });
});
