// The daemon reads sysfs and /proc/sys facts with the file system; `observe` reads them with one `find`
// process. Both must give the same facts, here read (read-only) in this process's own namespace.
import { describe, expect, it } from "vitest";
import { readFactsDirect } from "../../src/effects/read-facts.js";
import { run } from "../../src/effects/exec.js";
import { factsCommand, parseFacts, type Facts } from "../../src/kinds/sysfs.js";

const sorted = (f: Facts) => ({
  links: [...f.links.entries()].sort(([a], [b]) => (a < b ? -1 : 1)),
  sysctls: [...f.sysctls].sort((a, b) => (a.name < b.name ? -1 : 1)),
});

describe("facts read with the file system", () => {
  it("are the facts the find process reads", async () => {
    const direct = parseFacts(readFactsDirect());
    const found = parseFacts((await run(factsCommand(), { allowFailure: true })).stdout);
    expect(sorted(direct)).toEqual(sorted(found));
    expect(direct.sysctls.some((s) => s.name === "net.ipv4.ip_forward")).toBe(true);
  });
});
