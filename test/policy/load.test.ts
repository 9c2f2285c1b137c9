// Loading from files and directories, the source map, and the limits against hostile input.
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { chmodSync, chownSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadPolicy, loadPolicyTexts } from "../../src/policy/load.js";
import { LIMITS, positionOf } from "../../src/policy/source.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "backhaul-policy-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const UPLINKS = "uplinks:\n  - name: fibre\n    interface: eth0\n";
const PROBES = "probes:\n  targets: [tcp://198.51.100.10:443]\n";

describe("a policy directory", () => {
  it("merges its YAML files in name order, mapping by mapping", async () => {
    await writeFile(join(dir, "10-uplinks.yaml"), UPLINKS);
    await writeFile(join(dir, "20-probes.yml"), `${PROBES}  interval: 10s\n`);
    await writeFile(join(dir, "30-more-probes.yaml"), "probes:\n  timeout: 3s\n");
    await writeFile(join(dir, "notes.txt"), "not: yaml: at all");
    const r = await loadPolicy(dir);
    if (!r.ok) throw new Error(JSON.stringify(r.diagnostics));
    expect([r.policy.probes.interval, r.policy.probes.timeout]).toEqual([10_000, 3000]);
    expect(r.sources.files.map((f) => f.slice(dir.length + 1))).toEqual([
      "10-uplinks.yaml",
      "20-probes.yml",
      "30-more-probes.yaml",
    ]);
    expect(positionOf(r.sources, "/probes/timeout")).toMatchObject({
      file: join(dir, "30-more-probes.yaml"),
      start: { line: 2, column: 12 },
    });
    expect(positionOf(r.sources, "/uplinks/0/interface")).toMatchObject({
      file: join(dir, "10-uplinks.yaml"),
      start: { line: 3, column: 16 },
    });
  });

  it("refuses a key defined in two files, naming both places", async () => {
    await writeFile(join(dir, "a.yaml"), `${UPLINKS}${PROBES}  interval: 5s\n`);
    await writeFile(join(dir, "b.yaml"), "probes:\n  interval: 10s\n");
    const r = await loadPolicy(dir);
    expect(r.ok).toBe(false);
    const d = r.diagnostics.find((x) => x.code === "defined-twice")!;
    expect(d.summary).toContain(`${join(dir, "a.yaml")}:6:3`);
    expect(d.summary).toContain(`${join(dir, "b.yaml")}:2:3`);
    expect(d.location).toMatchObject({ file: join(dir, "b.yaml"), start: { line: 2, column: 3 } });
  });

  it("follows a link to a file inside it; a link out of it is refused, never read or quoted", async () => {
    const secret = join(await mkdtemp(join(tmpdir(), "bhl-secret-")), "shadow");
    await writeFile(secret, "root:*:20228:0:99999:7:::\n");
    await mkdir(join(dir, "parts"));
    await writeFile(join(dir, "parts", "uplinks.txt"), UPLINKS);
    await writeFile(join(dir, "20-probes.yaml"), PROBES);
    await symlink(join(dir, "parts", "uplinks.txt"), join(dir, "10-uplinks.yaml"));
    const inside = await loadPolicy(dir);
    expect(inside.ok, JSON.stringify(inside.diagnostics)).toBe(true);
    await symlink(secret, join(dir, "30-extra.yaml"));
    const r = await loadPolicy(dir);
    expect(r.ok).toBe(false);
    expect(r.diagnostics).toMatchObject([
      {
        code: "outside-link",
        location: { file: join(dir, "30-extra.yaml"), start: { line: 1, column: 1 } },
      },
    ]);
    expect(JSON.stringify(r.diagnostics)).not.toContain("root:");
    // Named directly, the operator's own link is followed.
    expect((await loadPolicy(join(dir, "10-uplinks.yaml"))).diagnostics.map((d) => d.code)).toEqual([
      "missing-key",
    ]);
    await rm(dirname(secret), { recursive: true, force: true });
  });

  it("names the file at 1:1 for errors without a place of their own", async () => {
    await writeFile(join(dir, "big.yaml"), `# ${"x".repeat(LIMITS.fileBytes)}\n`);
    expect((await loadPolicy(dir)).diagnostics).toMatchObject([
      { code: "file-too-large", location: { file: join(dir, "big.yaml"), start: { line: 1, column: 1 } } },
    ]);
  });

  it("with no YAML files is an error, and so is a missing path", async () => {
    expect((await loadPolicy(dir)).diagnostics[0]!.code).toBe("no-policy");
    const missing = await loadPolicy(join(dir, "nope.yaml"));
    expect(missing.ok).toBe(false);
    expect(missing.diagnostics[0]!.summary).toMatch(/no such file/);
  });
});

describe("the source map", () => {
  it("finds every written value, and the nearest written ancestor of a default", () => {
    const r = loadPolicyTexts([
      { file: "p.yaml", text: `${UPLINKS}${PROBES}selection:\n  strategy: balance\n` },
    ]);
    if (!r.ok) throw new Error(JSON.stringify(r.diagnostics));
    expect(positionOf(r.sources, "/selection/strategy")).toMatchObject({
      exact: true,
      start: { line: 7, column: 13 },
    });
    expect(positionOf(r.sources, "/selection/strategy", "key")).toMatchObject({
      start: { line: 7, column: 3 },
    });
    expect(positionOf(r.sources, "/selection/switchMargin")).toMatchObject({
      exact: false,
      start: { line: 7, column: 3 },
    });
    expect(positionOf(r.sources, "/daemon/logLevel")).toMatchObject({
      exact: false,
      start: { line: 1, column: 1 },
    });
  });
});

describe("hostile input", () => {
  it("refuses a file over the size limit before parsing it", async () => {
    const path = join(dir, "big.yaml");
    await writeFile(path, `${UPLINKS}${PROBES}# ${"x".repeat(LIMITS.fileBytes)}\n`);
    const r = await loadPolicy(path);
    expect(r.diagnostics.map((d) => d.code)).toEqual(["file-too-large"]);
  });

  it("refuses deeply nested flow collections without overflowing the stack", () => {
    const text = `${UPLINKS}${PROBES}x: ${"[".repeat(5000)}${"]".repeat(5000)}\n`;
    const r = loadPolicyTexts([{ file: "deep.yaml", text }]);
    expect(r.ok).toBe(false);
    expect(r.diagnostics.map((d) => d.code)).toContain("too-deep");
  });

  it("refuses a file of more keys or list items than a policy has, early and at file:line:col", () => {
    for (const [what, body] of [
      ["keys", Array.from({ length: 50_000 }, (_, i) => `  k${i}: ${i}`).join("\n")],
      ["items", Array.from({ length: 50_000 }, (_, i) => `  - ${i}`).join("\n")],
    ] as const) {
      const r = loadPolicyTexts([{ file: `${what}.yaml`, text: `${UPLINKS}${PROBES}extra:\n${body}\n` }]);
      expect(r.diagnostics).toMatchObject([
        { code: "too-many-entries", location: { file: `${what}.yaml`, start: { line: expect.any(Number) } } },
      ]);
    }
  });

  it("finds a key given twice also in a large mapping, where it is given", () => {
    const keys = Array.from({ length: 5_000 }, (_, i) => `  k${i}: ${i}`);
    keys.push("  k17: again");
    const r = loadPolicyTexts([
      { file: "dup.yaml", text: `${UPLINKS}${PROBES}extra:\n${keys.join("\n")}\n` },
    ]);
    // The lines before "extra:" and "extra:" itself, then k0 to k4999, then k17 again.
    const lines = `${UPLINKS}${PROBES}`.split("\n").length;
    expect(r.diagnostics).toMatchObject([
      {
        code: "duplicate-key",
        summary: 'Map keys must be unique: "k17" is given twice',
        location: { start: { line: lines + 5_001, column: 3 } },
      },
    ]);
  });

  it("refuses an alias bomb", () => {
    const levels = ["a: &a [x, x, x, x, x, x, x, x, x]"];
    for (let i = 1; i < 8; i++)
      levels.push(
        `l${i}: &l${i} [${Array(9)
          .fill(i === 1 ? "*a" : `*l${i - 1}`)
          .join(", ")}]`,
      );
    const r = loadPolicyTexts([{ file: "bomb.yaml", text: `${UPLINKS}${PROBES}${levels.join("\n")}\n` }]);
    expect(r.diagnostics.map((d) => d.code)).toEqual(["alias-bomb"]);
  });

  it("refuses control characters in keys and values, wherever they are", () => {
    const r = loadPolicyTexts([
      { file: "c.yaml", text: `${UPLINKS}${PROBES}daemon:\n  logLevel: "info\\u0000"\n` },
    ]);
    expect(r.diagnostics.find((d) => d.code === "control-character")).toMatchObject({
      pointer: "/daemon/logLevel",
      summary: expect.stringContaining("NUL"),
    });
  });

  it("reports a __proto__ key as unknown and pollutes no prototype, also across files", async () => {
    const single = loadPolicyTexts([
      { file: "p.yaml", text: `${UPLINKS}${PROBES}__proto__:\n  polluted: 1\n` },
    ]);
    expect(single.diagnostics.map((d) => d.summary)).toEqual(['unknown key "__proto__"']);
    await writeFile(join(dir, "a.yaml"), `${UPLINKS}${PROBES}selection:\n  __proto__: { polluted: 1 }\n`);
    await writeFile(join(dir, "b.yaml"), "selection:\n  __proto__: { polluted: 2 }\n");
    const merged = await loadPolicy(dir);
    expect(merged.diagnostics.map((d) => d.code)).toContain("defined-twice");
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("escapes keys in pointers (RFC 6901)", () => {
    const r = loadPolicyTexts([{ file: "k.yaml", text: `${UPLINKS}${PROBES}"a/b~c": 1\n` }]);
    expect(r.diagnostics.find((d) => d.code === "unknown-key")).toMatchObject({
      pointer: "/a~1b~0c",
      location: { start: { line: 6, column: 1 } },
    });
  });
});

describe("semantic checks", () => {
  it("check the passphrase file when it can be read", async () => {
    const psk = join(dir, "psk");
    await writeFile(psk, "short\n", { mode: 0o600 });
    const text = `${UPLINKS}${PROBES}hotspot:\n  security: wpa2\n  passphraseFile: ${psk}\n`;
    const bad = loadPolicyTexts([{ file: "h.yaml", text }]);
    expect(bad.diagnostics.find((d) => d.code === "bad-passphrase")?.summary).toMatch(/8-63 characters/);
    await writeFile(psk, "correct horse battery staple\n");
    const good = loadPolicyTexts([{ file: "h.yaml", text }]);
    expect(good.ok).toBe(true);
  });

  it("derive the DHCP pool from the hotspot subnet, leaving out the node's address", () => {
    const r = loadPolicyTexts([
      { file: "h.yaml", text: `${UPLINKS}${PROBES}hotspot:\n  security: open\n  address: 100.64.9.1/29\n` },
    ]);
    if (!r.ok) throw new Error(JSON.stringify(r.diagnostics));
    expect(r.policy.hotspot!.dhcp).toMatchObject({ start: "100.64.9.2", end: "100.64.9.6" });
  });

  it("warn, without failing, about exposed metrics and an open hotspot", () => {
    const text = `${UPLINKS}${PROBES}hotspot:\n  security: open\n  interface: wlan1\ndaemon:\n  metricsListen: 0.0.0.0:9417\n`;
    const r = loadPolicyTexts([{ file: "w.yaml", text }]);
    expect(r.ok).toBe(true);
    expect(r.diagnostics.map((d) => [d.severity, d.code])).toEqual([
      ["warning", "open-hotspot"],
      ["warning", "metrics-exposed"],
    ]);
  });

  it("refuse a hotspot subnet overlapping an uplink's, and accept a shared interface when declared", () => {
    const uplink =
      "uplinks:\n  - name: wifi\n    interface: wlan0\n    addressing: static\n    address: 100.64.50.2/24\n";
    const overlap = loadPolicyTexts([
      {
        file: "o.yaml",
        text: `${uplink}${PROBES}hotspot:\n  interface: wlan0\n  shareInterface: true\n  security: open\n  address: 100.64.50.1/24\n`,
      },
    ]);
    expect(overlap.diagnostics.map((d) => d.code)).toEqual(["open-hotspot", "subnet-overlap"]);
    const shared = loadPolicyTexts([
      {
        file: "s.yaml",
        text: `${uplink}${PROBES}hotspot:\n  interface: wlan0\n  shareInterface: true\n  security: open\n  address: 100.64.60.1/24\n`,
      },
    ]);
    expect(shared.ok).toBe(true);
  });
});

describe("files that are not what they claim", () => {
  const hotspot = (psk: string) =>
    `${UPLINKS}${PROBES}hotspot:\n  security: wpa2\n  passphraseFile: ${psk}\n`;

  it("refuses a passphrase file that is a FIFO or a device at once, without blocking or reading it", async () => {
    const fifo = join(dir, "psk.fifo");
    execFileSync("mkfifo", [fifo]);
    for (const psk of [fifo, "/dev/zero"]) {
      const r = loadPolicyTexts([{ file: "h.yaml", text: hotspot(psk) }]);
      expect(r.ok).toBe(false);
      const d = r.diagnostics.find((x) => x.code === "bad-passphrase");
      expect(d?.summary).toMatch(/not a regular file/);
      expect(d?.location).toMatchObject({ file: "h.yaml", start: { line: 8 } });
    }
  });

  it("refuses a passphrase file larger than any passphrase, and one holding a CR, never quoting it", async () => {
    const psk = join(dir, "psk");
    await writeFile(psk, `${"secret-".repeat(1000)}\n`, { mode: 0o600 });
    const big = loadPolicyTexts([{ file: "h.yaml", text: hotspot(psk) }]);
    expect(big.diagnostics.find((d) => d.code === "bad-passphrase")?.summary).toMatch(/at most 4096/);
    await writeFile(psk, "correct horse battery staple\r\n");
    const cr = loadPolicyTexts([{ file: "h.yaml", text: hotspot(psk) }]);
    const d = cr.diagnostics.find((x) => x.code === "bad-passphrase");
    expect(d?.summary).toMatch(/printable ASCII/);
    expect(JSON.stringify(cr.diagnostics)).not.toContain("horse");
  });

  it("refuses a passphrase file others can read or change, and one that belongs to another user", async () => {
    const psk = join(dir, "exposed.psk");
    await writeFile(psk, "correct horse battery staple\n", { mode: 0o644 });
    chmodSync(psk, 0o644);
    const readable = loadPolicyTexts([{ file: "h.yaml", text: hotspot(psk) }]);
    const d = readable.diagnostics.find((x) => x.code === "bad-passphrase");
    expect(d).toMatchObject({ severity: "error", location: { file: "h.yaml", start: { line: 8 } } });
    expect(d?.summary).toMatch(/readable or writable by group or others \(mode 0644\): chmod 600 it/);
    chmodSync(psk, 0o620);
    expect(loadPolicyTexts([{ file: "h.yaml", text: hotspot(psk) }]).ok).toBe(false);
    chmodSync(psk, 0o600);
    expect(loadPolicyTexts([{ file: "h.yaml", text: hotspot(psk) }]).ok).toBe(true);
    if (process.getuid?.() === 0) {
      // A file in someone else's home: theirs to change, so not a secret of ours.
      chownSync(psk, 1000, 1000);
      const theirs = loadPolicyTexts([{ file: "h.yaml", text: hotspot(psk) }]);
      expect(theirs.diagnostics.find((x) => x.code === "bad-passphrase")?.summary).toMatch(
        /belongs to uid 1000, not to the user backhaul runs as/,
      );
    }
    expect(JSON.stringify(readable.diagnostics)).not.toContain("horse");
  });

  it("refuses a policy path that is a FIFO, and a directory holding a FIFO or a sub-directory named *.yaml", async () => {
    const fifo = join(dir, "policy.yaml");
    execFileSync("mkfifo", [fifo]);
    const direct = await loadPolicy(fifo);
    expect(direct.ok).toBe(false);
    expect(direct.diagnostics[0]?.summary).toMatch(/is a FIFO, not a regular file/);
    await writeFile(join(dir, "00-uplinks.yaml"), `${UPLINKS}${PROBES}`);
    const inDir = await loadPolicy(dir);
    expect(inDir.ok).toBe(false);
    expect(inDir.diagnostics[0]?.summary).toMatch(/policy\.yaml is a FIFO/);
    await rm(fifo);
    await mkdir(join(dir, "sub.yaml"));
    const sub = await loadPolicy(dir);
    expect(sub.ok).toBe(false);
    expect(sub.diagnostics[0]?.summary).toMatch(/sub\.yaml is a directory/);
  });
});
