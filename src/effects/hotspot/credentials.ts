// The hotspot's secrets, kept in files only: the passphrase (the user's passphraseFile, or the one
// backhaul generates, 0600 in its state directory), the onboarding tokens (a checksummed file of
// ours), and hostapd's own files that carry them (its configuration and its WPA-PSK file, 0600).
// Nothing here logs or returns a secret to anything but the file hostapd reads and `hotspot token`'s
// own output; everything else sees a fingerprint.
import { randomInt } from "node:crypto";
import { chmodSync, existsSync, linkSync, mkdirSync, renameSync, rmSync, statSync } from "node:fs";
import { dirname } from "node:path";
import type { ServicePrepare } from "../../kinds/driver.js";
import { confText, credentialFiles, parseConf, type OnboardingToken } from "../../kinds/services/hostapd.js";
import { readRegularFile } from "../../policy/read-file.js";
import { passphraseProblem } from "../../policy/values.js";
import { plainEqual, sha256 } from "../../util/canonical.js";
import { readDurable, writeDurable, writeTextAtomic } from "../state/durable-file.js";

type HostapdPrepare = Extract<ServicePrepare, { kind: "hostapd" }>;

/** 31 symbols without look-alikes (no 0/o, 1/l/i), lower case for phones' keyboards. */
const ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz";

/**
 * A new passphrase from the system's secure source: 26 symbols of log2(31) bits (128.8 bits), in
 * groups of four for people who type it.
 */
export function generatePassphrase(symbols = 26): string {
  const chars = Array.from({ length: symbols }, () => ALPHABET[randomInt(ALPHABET.length)]!);
  return chars.join("").replace(/(.{4})(?=.)/g, "$1-");
}

/** What stands for a secret wherever one may not appear: its first 8 hex digits of SHA-256. */
export const fingerprint = (secret: string): string => `sha256:${sha256(secret).slice(0, 8)}`;

export class CredentialError extends Error {
  override name = "CredentialError";
}

const SECRET_FILE_MAX = 4096;

/**
 * The passphrase in `path`, checked as the policy's validation checks it (ours, 0600, 8-63 printable
 * characters). `generate`: the file is backhaul's own, created with a new passphrase when missing.
 */
export function readPassphrase(path: string, o: { generate?: boolean } = {}): string {
  if (o.generate === true && !existsSync(path)) writePassphrase(path, generatePassphrase());
  const r = readRegularFile(path, SECRET_FILE_MAX, { secret: true });
  if (!r.ok) throw new CredentialError(`the hotspot's passphrase: ${r.message}`);
  const passphrase = r.text.replace(/\n$/, "");
  const problem = passphraseProblem(passphrase);
  if (problem !== undefined) throw new CredentialError(`the hotspot's passphrase in ${path}: ${problem}`);
  return passphrase;
}

function writePassphrase(path: string, passphrase: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeTextAtomic(path, `${passphrase}\n`, 0o600);
}

/** When the passphrase was last set (its file's mtime, epoch ms); undefined when there is none. */
export function passphraseSince(path: string): number | undefined {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}

/** Replace backhaul's own passphrase with a new one (the reload that follows puts it in force). */
export function rotatePassphrase(path: string): void {
  writePassphrase(path, generatePassphrase());
}

const TOKENS_KIND = "backhaul-hotspot-tokens";

function isTokens(d: unknown): d is OnboardingToken[] {
  return (
    Array.isArray(d) &&
    d.every(
      (t) =>
        typeof t === "object" &&
        t !== null &&
        typeof (t as OnboardingToken).id === "string" &&
        /^[a-z0-9]{1,16}$/.test((t as OnboardingToken).id) &&
        typeof (t as OnboardingToken).passphrase === "string" &&
        passphraseProblem((t as OnboardingToken).passphrase) === undefined &&
        Number.isFinite((t as OnboardingToken).expires),
    )
  );
}

/** The onboarding tokens that have not expired at `now`. */
export function liveTokens(path: string, now: number): OnboardingToken[] {
  return (readDurable(path, TOKENS_KIND, 1, isTokens) ?? []).filter((t) => t.expires > now);
}

/** The earliest expiry among the live tokens (when the next reload is due), if any. */
export function nextTokenExpiry(path: string, now: number): number | undefined {
  const ts = liveTokens(path, now);
  return ts.length === 0 ? undefined : Math.min(...ts.map((t) => t.expires));
}

/** Add a token valid for `ttlMs`; expired ones are dropped from the file on the way. */
export function addToken(path: string, ttlMs: number, now: number): OnboardingToken {
  const live = liveTokens(path, now);
  const token: OnboardingToken = {
    id: generatePassphrase(8).replace(/-/g, ""),
    passphrase: generatePassphrase(16),
    expires: now + ttlMs,
  };
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeDurable(path, TOKENS_KIND, 1, [...live, token]);
  return token;
}

/** The credentials hostapd's files must carry now, from the passphrase file and the live tokens. */
function wanted(p: Pick<HostapdPrepare, "security" | "passphraseFile" | "tokens" | "generate">, now: number) {
  if (p.security === "open" || p.passphraseFile === undefined) return credentialFiles(p.security, "", []);
  const passphrase = readPassphrase(p.passphraseFile, { generate: p.generate === true });
  return credentialFiles(p.security, passphrase, liveTokens(p.tokens, now));
}

/**
 * Write hostapd's files for a start or a reload: its control directory (0700), its configuration and
 * its WPA-PSK file (0600), the credentials read from their files now. The files they replace are kept
 * beside them (".prev") for a rollback, which `restore` puts back.
 */
export function writeHostapdFiles(p: HostapdPrepare, o: { now?: number; restore?: boolean } = {}): void {
  mkdirSync(p.ctrlDir, { recursive: true, mode: 0o700 });
  chmodSync(dirname(p.conf), 0o700);
  chmodSync(p.ctrlDir, 0o700);
  if (o.restore === true) {
    for (const f of [p.conf, p.wpaPsk]) if (existsSync(`${f}.prev`)) renameSync(`${f}.prev`, f);
    return;
  }
  const creds = wanted(p, o.now ?? Date.now());
  // The file in use stays in place until the new one is renamed over it: hostapd (and anyone reading
  // its files) never finds one missing. The previous version is a second link to the old file.
  for (const f of [p.conf, p.wpaPsk])
    if (existsSync(f)) {
      rmSync(`${f}.prev`, { force: true });
      linkSync(f, `${f}.prev`);
    }
  writeTextAtomic(p.wpaPsk, creds.wpaPsk, 0o600);
  writeTextAtomic(p.conf, confText(p, creds.confLines), 0o600);
}

/** hostapd's configuration file of ours, read back (0600, ours); undefined when it is not one. */
export function readOurConf(path: string): ReturnType<typeof parseConf> {
  const conf = readRegularFile(path, 64 * 1024, { secret: true });
  return conf.ok ? parseConf(conf.text) : undefined;
}

/**
 * Whether a configuration file already read back carries the credentials the files hold now; "stale"
 * too when the passphrase cannot be read (the reload will say why).
 */
export function credentialsOf(
  parsed: NonNullable<ReturnType<typeof parseConf>>,
  p: Pick<HostapdPrepare, "wpaPsk" | "tokens" | "security" | "passphraseFile">,
  now: number,
): "current" | "stale" {
  if (p.security === "open") return "current";
  try {
    const want = wanted({ ...p, generate: false }, now);
    const psk = readRegularFile(p.wpaPsk, 256 * 1024, { secret: true });
    const same =
      parsed.passphraseFile === p.passphraseFile &&
      plainEqual(parsed.secrets, want.confLines) &&
      psk.ok &&
      psk.text === want.wpaPsk;
    return same ? "current" : "stale";
  } catch {
    return "stale";
  }
}

/** The same for the file on disk: undefined when it is not one of ours. */
export function credentialsState(
  p: Pick<HostapdPrepare, "conf" | "wpaPsk" | "tokens" | "security" | "passphraseFile">,
  now: number,
): "current" | "stale" | undefined {
  const parsed = readOurConf(p.conf);
  return parsed === undefined ? undefined : credentialsOf(parsed, p, now);
}

/** The secrets' fingerprint for people: shows that the passphrase changed, never what it is. */
export function passphraseFingerprint(path: string): string | undefined {
  try {
    return fingerprint(readPassphrase(path));
  } catch {
    return undefined;
  }
}
