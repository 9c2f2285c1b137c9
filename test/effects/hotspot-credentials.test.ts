import {
  chmodSync,
  chownSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  addToken,
  credentialsState,
  CredentialError,
  fingerprint,
  generatePassphrase,
  liveTokens,
  nextTokenExpiry,
  readPassphrase,
  rotatePassphrase,
  writeHostapdFiles,
} from "../../src/effects/hotspot/credentials.js";
import { hostapdOf, hostapdPaths } from "../../src/kinds/services/hostapd.js";
import { HOTSPOT_AP } from "../support/plan-fixtures.js";

const root = mkdtempSync(join(tmpdir(), "bhl-creds-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(root, `d${n++}`);

function prepareFor(dir: string, security: "wpa2" | "wpa2-wpa3" | "wpa3" = "wpa2-wpa3") {
  const h = hostapdOf(dir, { ...HOTSPOT_AP, security, pmf: security === "wpa3" ? "required" : "optional" });
  const p = hostapdPaths(dir, "wlan0");
  return {
    kind: "hostapd" as const,
    conf: p.conf,
    ctrlDir: p.ctrlDir,
    wpaPsk: p.wpaPsk,
    tokens: p.tokens,
    iface: "wlan0",
    config: h.config,
    security,
    passphraseFile: h.passphraseFile!,
    generate: true,
  };
}

describe("the hotspot's passphrase", () => {
  it("is generated from 31 symbols, 26 of them: at least 128 bits, grouped for people", () => {
    const p = generatePassphrase();
    expect(p).toMatch(/^([2-9a-hj-km-np-z]{4}-){6}[2-9a-hj-km-np-z]{2}$/);
    expect(26 * Math.log2(31)).toBeGreaterThanOrEqual(128);
    expect(new Set(Array.from({ length: 50 }, () => generatePassphrase())).size).toBe(50);
  });

  it("is created 0600 in a 0700 directory when backhaul owns it, and kept from then on", () => {
    const dir = fresh();
    const path = join(dir, "wlan0.psk");
    const first = readPassphrase(path, { generate: true });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(readPassphrase(path, { generate: true })).toBe(first);
    rotatePassphrase(path);
    expect(readPassphrase(path)).not.toBe(first);
  });

  it("refuses a file others can read, a file of another user, and one that is no passphrase", () => {
    const dir = fresh();
    const path = join(dir, "psk");
    mkdirSync(dir, { mode: 0o700 });
    writeFileSync(path, "long enough pass\n", { mode: 0o644 });
    chmodSync(path, 0o644);
    expect(() => readPassphrase(path)).toThrow(/readable or writable by group or others \(mode 0644\)/);
    chmodSync(path, 0o600);
    expect(readPassphrase(path)).toBe("long enough pass");
    writeFileSync(path, "short\n");
    expect(() => readPassphrase(path)).toThrow(CredentialError);
    writeFileSync(path, "with\ttab inside\n");
    expect(() => readPassphrase(path)).toThrow(/printable/);
    if (process.getuid?.() === 0) {
      writeFileSync(path, "long enough pass\n");
      chownSync(path, 1000, 1000);
      expect(() => readPassphrase(path)).toThrow(/belongs to uid 1000/);
    }
    expect(() => readPassphrase(join(dir, "missing"))).toThrow(/no such file/);
  });

  it("shows as a fingerprint that changes with it and never contains it", () => {
    expect(fingerprint("aaaa-bbbb")).toMatch(/^sha256:[0-9a-f]{8}$/);
    expect(fingerprint("aaaa-bbbb")).not.toBe(fingerprint("aaaa-bbbc"));
  });
});

describe("onboarding tokens", () => {
  it("live until they expire, and the earliest expiry is when the next reload is due", () => {
    const path = join(fresh(), "wlan0.tokens");
    const a = addToken(path, 60_000, 1_000);
    const b = addToken(path, 5_000, 2_000);
    expect(a.passphrase).not.toBe(b.passphrase);
    expect(liveTokens(path, 3_000).map((t) => t.id)).toEqual([a.id, b.id]);
    expect(nextTokenExpiry(path, 3_000)).toBe(7_000);
    expect(liveTokens(path, 7_000).map((t) => t.id)).toEqual([a.id]);
    expect(nextTokenExpiry(path, 61_000)).toBeUndefined();
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });
});

describe("hostapd's files", () => {
  it("carry the passphrase and the live tokens, 0600, and turn stale when either changes", () => {
    const dir = fresh();
    const p = prepareFor(dir);
    writeHostapdFiles(p, { now: 0 });
    const pass = readPassphrase(p.passphraseFile);
    const conf = readFileSync(p.conf, "utf8");
    expect(conf).toContain(`wpa_passphrase=${pass}\nsae_password=${pass}\n`);
    expect(statSync(p.conf).mode & 0o777).toBe(0o600);
    expect(statSync(p.wpaPsk).mode & 0o777).toBe(0o600);
    expect(statSync(p.ctrlDir).mode & 0o777).toBe(0o700);
    expect(credentialsState(p, 0)).toBe("current");

    const t = addToken(p.tokens, 1_000, 0);
    expect(credentialsState(p, 10)).toBe("stale");
    writeHostapdFiles(p, { now: 10 });
    expect(readFileSync(p.wpaPsk, "utf8")).toBe(`keyid=${t.id} 00:00:00:00:00:00 ${t.passphrase}\n`);
    expect(credentialsState(p, 10)).toBe("current");
    // Expired: the file must lose the token's key.
    expect(credentialsState(p, 1_000)).toBe("stale");

    rotatePassphrase(p.passphraseFile);
    expect(credentialsState(p, 10)).toBe("stale");
  });

  it("put the file that ran before back for a rollback", () => {
    const dir = fresh();
    const p = prepareFor(dir, "wpa2");
    writeHostapdFiles(p, { now: 0 });
    const before = readFileSync(p.conf, "utf8");
    rotatePassphrase(p.passphraseFile);
    writeHostapdFiles(p, { now: 0 });
    expect(readFileSync(p.conf, "utf8")).not.toBe(before);
    writeHostapdFiles(p, { restore: true });
    expect(readFileSync(p.conf, "utf8")).toBe(before);
    expect(credentialsState(p, 0)).toBe("stale");
  });

  it("are not written at all when the passphrase file is unusable, and say why", () => {
    const dir = fresh();
    const own = join(dir, "user.psk");
    mkdirSync(dir, { mode: 0o700 });
    writeFileSync(own, "seven77\n", { mode: 0o600 });
    const p = { ...prepareFor(dir, "wpa2"), passphraseFile: own, generate: false };
    expect(() => writeHostapdFiles(p)).toThrow(/8-63 characters/);
    expect(() => statSync(p.conf)).toThrow();
  });
});
