// `backhaul hotspot token [POLICY] [--ttl 5m] [--json]`: a short-lived onboarding credential for the
// hotspot. The token is an extra WPA-PSK key that the running daemon puts in force by reloading
// hostapd (asked for a pass over its status socket) and takes out again when it expires. It is
// printed once, here, as a QR code phones scan (the `WIFI:` format) and as JSON; nothing else ever
// shows it. Without a daemon nothing would remove it on time, so none is made. See docs/hotspot.md.
import type { Command } from "commander";
import { renderUnicodeCompact } from "uqr";
import { fetchStatus, NoDaemonError, requestPass } from "../../daemon/status-client.js";
import { statusSocketPath } from "../../daemon/status-server.js";
import { addToken, credentialsState } from "../../effects/hotspot/credentials.js";
import { currentNetns } from "../../effects/netns.js";
import { hotspotFiles } from "../../core/plan/inputs.js";
import { takesPskKeys } from "../../kinds/services/hostapd.js";
import { DEFAULT_POLICY_PATH, loadPolicy } from "../../policy/load.js";
import { formatDuration, parseDuration } from "../../util/units.js";
import { formatHuman } from "../diagnostics.js";
import { EXIT } from "../exit.js";

export interface TokenOptions {
  readonly ttl?: string;
  readonly json?: boolean;
}

/** Shortest and longest token lifetimes: long enough to type, short enough to be a token. */
const TTL_MIN_MS = 10_000;
const TTL_MAX_MS = 24 * 3600_000;

/** The `WIFI:` text phones read from a QR code; its special characters are escaped with a backslash. */
export function wifiUri(ssid: string, passphrase: string): string {
  const esc = (s: string) => s.replace(/([\\;,:"])/g, "\\$1");
  return `WIFI:T:WPA;S:${esc(ssid)};P:${esc(passphrase)};;`;
}

class TokenRefused extends Error {}

export async function tokenCommand(policyPath: string, o: TokenOptions): Promise<number> {
  const fail = (message: string): number => {
    process.stderr.write(`backhaul hotspot token: ${message}\n`);
    return EXIT.error;
  };
  const loaded = await loadPolicy(policyPath);
  if (!loaded.ok) {
    process.stderr.write(formatHuman(loaded.diagnostics, loaded.texts, false));
    return EXIT.error;
  }
  const policy = loaded.policy;
  const h = policy.hotspot;
  try {
    if (h === undefined) throw new TokenRefused(`${policyPath} has no hotspot`);
    if (h.activate === "never") throw new TokenRefused("the hotspot's activate is never: it never runs");
    if (h.security === "open") throw new TokenRefused("the hotspot is open: anyone may join without a token");
    if (!takesPskKeys(h.security))
      throw new TokenRefused(
        "WPA3-SAE gives clients one password (hostapd tells extra ones apart only by an identifier phones do not send): tokens need security wpa2 or wpa2-wpa3",
      );
  } catch (e) {
    if (e instanceof TokenRefused) return fail(e.message);
    throw e;
  }
  let ttl: number;
  try {
    ttl = o.ttl === undefined ? h.onboardingToken : parseDuration(o.ttl);
  } catch (e) {
    return fail(`--ttl: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (ttl < TTL_MIN_MS || ttl > TTL_MAX_MS)
    return fail(
      `--ttl ${formatDuration(ttl)}: a token lives from ${formatDuration(TTL_MIN_MS)} to ${formatDuration(TTL_MAX_MS)}`,
    );

  const netns = currentNetns();
  const socket = statusSocketPath(policy.daemon.statusSocket, netns);
  try {
    await fetchStatus(socket);
  } catch (e) {
    if (e instanceof NoDaemonError)
      return fail(
        `no daemon is running for ${policyPath} (nothing answers on ${socket}): only \`backhaul run\` takes a token out when it expires, so none was made`,
      );
    throw e;
  }
  const { paths, passphrase } = hotspotFiles(policy, netns)!;
  const now = Date.now();
  const token = addToken(paths.tokens, ttl, now);
  await requestPass(socket, "hotspot token");
  // In force when hostapd runs our file with it; a hotspot that is down takes it when it comes up.
  const running =
    credentialsState({ ...paths, security: h.security, passphraseFile: passphrase }, Date.now()) ===
    "current";
  const expires = new Date(token.expires).toISOString();
  const uri = wifiUri(h.ssid, token.passphrase);
  if (o.json === true) {
    process.stdout.write(
      `${JSON.stringify({ id: token.id, ssid: h.ssid, passphrase: token.passphrase, expires, uri, inForce: running }, null, 2)}\n`,
    );
    return EXIT.ok;
  }
  process.stdout.write(
    [
      renderUnicodeCompact(uri),
      `SSID        ${h.ssid}`,
      `Passphrase  ${token.passphrase}`,
      `Expires     ${expires} (in ${formatDuration(ttl)})`,
      running
        ? "In force now: scan the code, or type the passphrase."
        : "The hotspot is not up now: the token works once it is, until it expires.",
      "",
    ].join("\n"),
  );
  return EXIT.ok;
}

export function registerHotspot(program: Command): void {
  const hotspot = program.command("hotspot").description("The hotspot's onboarding tokens");
  hotspot
    .command("token")
    .description(
      "Make a short-lived extra passphrase for one new client, put in force by the running daemon and removed when it expires; printed as a QR code and text, or JSON",
    )
    .argument("[policy]", "the daemon's policy file or directory", DEFAULT_POLICY_PATH)
    .option("--ttl <duration>", "how long the token works (default: the policy's hotspot.onboardingToken)")
    .option("--json", "print the token as JSON")
    .action(async (policy: string, opts: TokenOptions) => {
      process.exitCode = await tokenCommand(policy, opts);
    });
}
