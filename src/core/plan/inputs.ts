// The seam between the policy and the planner: the effective policy and what was observed, mapped
// onto the planner's plain inputs (uplink specs, selection and routing parameters, ownership).
import type { KernelState, LinkClass, Ownership } from "../../kinds/types.js";
import { schemeSysctls, type DhcpParams, type HotspotParams, type RoutingParams } from "./desired.js";
import ipaddr from "ipaddr.js";
import { ipv4Subnet, type NatParams } from "./nat.js";
import { dnsmasqDir } from "../../kinds/services/dnsmasq.js";
import { hostapdDir, hostapdPaths } from "../../kinds/services/hostapd.js";
import { dhcpDir, scopeOf } from "../../kinds/services/dhcp-client.js";
import { hotspotAddress, hotspotPlanned, ownershipOf } from "../../policy/ownership.js";
import type { EffectivePolicy, QosInterface, Uplink } from "../../policy/types.js";
import { globMatches } from "../../policy/values.js";
import type { SelectionParams, UplinkSpec } from "../selection/types.js";

export interface PlannerInputs {
  readonly uplinks: readonly UplinkSpec[];
  readonly params: SelectionParams;
  readonly routing: RoutingParams;
  readonly ownership: Ownership;
  /** The policy's shaping, one HTB tree per interface. */
  readonly qos: readonly QosInterface[];
  /** The hotspot's NAT, when the policy has a hotspot with nat that may be active. */
  readonly nat?: NatParams;
  /** Uplinks whose `match` found no interface, for people. */
  readonly unmatched: readonly string[];
  /** Uplinks with `addressing: dhcp`: our DHCP client runs on each (its files under stateDir). */
  readonly dhcp?: DhcpParams;
  /** The hotspot's own services, when the policy may raise it (`activate` other than never). */
  readonly hotspot?: HotspotParams;
}

const RP_FILTER = { strict: "1", loose: "2", off: "0", unchanged: "unchanged" } as const;

/**
 * The interface an uplink stands for: its `interface`, or the first observed link its `match` selects
 * that no earlier uplink claimed. Undefined when nothing matches.
 */
function resolveInterface(
  u: Uplink,
  observed: KernelState,
  claimed: ReadonlySet<string>,
): string | undefined {
  if (u.interface !== undefined) return u.interface;
  const m = u.match;
  return observed.link.find(
    (l) =>
      !claimed.has(l.name) &&
      (m.name === undefined || globMatches(m.name, l.name)) &&
      (m.kind === undefined || l.linkClass === m.kind) &&
      (m.driver === undefined || l.driver === m.driver),
  )?.name;
}

/**
 * Where the hotspot's access point keeps its files for this policy and namespace, and the file its
 * passphrase is read from (the policy's passphraseFile, or the one backhaul generates). Undefined
 * without a hotspot.
 */
export function hotspotFiles(
  policy: EffectivePolicy,
  netns: string | undefined,
):
  | { readonly dir: string; readonly paths: ReturnType<typeof hostapdPaths>; readonly passphrase: string }
  | undefined {
  const h = policy.hotspot;
  if (h === undefined) return undefined;
  const dir = hostapdDir(policy.daemon.stateDir, scopeOf(netns));
  const paths = hostapdPaths(dir, h.interface);
  return { dir, paths, passphrase: h.passphraseFile ?? paths.passphrase };
}

/** `netns`: the namespace planned for (its DHCP clients keep their files apart from other namespaces'). */
export function plannerInputs(policy: EffectivePolicy, observed: KernelState, netns?: string): PlannerInputs {
  const claimed = new Set(policy.uplinks.flatMap((u) => (u.interface === undefined ? [] : [u.interface])));
  const unmatched: string[] = [];
  const uplinks = policy.uplinks.map((u): UplinkSpec => {
    const found = resolveInterface(u, observed, claimed);
    if (found !== undefined) claimed.add(found);
    else unmatched.push(u.name);
    // An uplink whose match found nothing keeps its place (and table) under a name no kernel
    // interface can have (":" is refused by the kernel), so selection reports it as absent.
    const iface = found ?? `match:${u.match?.name ?? u.match?.driver ?? u.match?.kind ?? u.name}`;
    const observedClass = observed.link.find((l) => l.name === iface)?.linkClass;
    const cls: LinkClass = u.kind ?? observedClass ?? "other";
    const bias = u.bias ?? (cls === "other" ? 0 : policy.selection.biasByKind[cls]);
    return {
      name: u.name,
      iface,
      class: cls,
      bias,
      use: u.use,
      gateway: u.gateway,
      metered: u.metered !== undefined,
      ...(u.metered === undefined ? {} : { onExhausted: u.metered.onExhausted }),
    };
  });
  const s = policy.selection;
  const params: SelectionParams = {
    strategy: s.strategy,
    weights: s.weights,
    maxRttMs: s.maxRtt,
    maxLossPct: s.maxLoss,
    classBias: { ...s.biasByKind, other: 0 },
    biasMultiplier: s.biasMultiplier,
    switchMargin: s.switchMargin,
    failThreshold: s.thresholds.fail,
    recoverThreshold: s.thresholds.recover,
    whenNoneUsable: s.noUsableUplink,
  };
  const routing: RoutingParams = {
    protocol: policy.routing.protocol,
    tables: policy.routing.tables,
    priorities: policy.routing.priorities,
    rpFilter: RP_FILTER[policy.routing.rpFilter],
  };
  const base = ownershipOf(policy);
  const sysctls = [...new Set([...base.sysctls, ...schemeSysctls(uplinks, routing)])].sort();
  const h = policy.hotspot;
  // Same condition as policySysctls' ip_forward, so desired and ownership agree.
  const nat: NatParams | undefined =
    h !== undefined && h.nat && h.activate !== "never"
      ? { table: policy.routing.nftTable, hotspotInterface: h.interface, address: h.address }
      : undefined;
  const dhcpUplinks = policy.uplinks.flatMap((u, i) => {
    const iface = uplinks[i]!.iface;
    return u.addressing === "dhcp" && u.use !== "never" && !iface.startsWith("match:")
      ? [{ name: u.name, iface }]
      : [];
  });
  // `when-no-uplink` is raised when no uplink is usable in the plan's own selection; the daemon
  // decides it instead with the hold-downs (core/decide/hotspot-activation.ts).
  const hotspot: HotspotParams | undefined = hotspotPlanned(policy)
    ? {
        raise: policy.hotspot.activate === "always" ? "always" : "when-no-uplink",
        address: hotspotAddress(policy.hotspot),
        dir: dnsmasqDir(policy.daemon.stateDir, scopeOf(netns)),
        dnsmasq: {
          iface: policy.hotspot.interface,
          router: policy.hotspot.address.split("/")[0]!,
          netmask: ipaddr.IPv4.subnetMaskFromPrefixLength(ipv4Subnet(policy.hotspot.address)[1]).toString(),
          start: policy.hotspot.dhcp.start,
          end: policy.hotspot.dhcp.end,
          leaseSeconds: Math.round(policy.hotspot.dhcp.lease / 1000),
          maxClients: policy.hotspot.maxClients,
        },
        hostapd: {
          dir: hotspotFiles(policy, netns)!.dir,
          params: {
            iface: policy.hotspot.interface,
            driver: policy.hotspot.driver,
            ssid: policy.hotspot.ssid,
            ...(policy.hotspot.country === undefined ? {} : { country: policy.hotspot.country }),
            channel: policy.hotspot.channel,
            security: policy.hotspot.security,
            pmf: policy.hotspot.pmf,
            clientIsolation: policy.hotspot.clientIsolation,
            maxClients: policy.hotspot.maxClients,
            ...(policy.hotspot.passphraseFile === undefined
              ? {}
              : { passphraseFile: policy.hotspot.passphraseFile }),
          },
        },
      }
    : undefined;
  return {
    uplinks,
    params,
    routing,
    ...(hotspot === undefined ? {} : { hotspot }),
    ...(dhcpUplinks.length === 0
      ? {}
      : { dhcp: { dir: dhcpDir(policy.daemon.stateDir, scopeOf(netns)), uplinks: dhcpUplinks } }),
    ownership: {
      ...base,
      sysctls,
      uplinkInterfaces: uplinks.map((u) => u.iface).filter((i) => !i.startsWith("match:")),
    },
    qos: policy.qos,
    ...(nat === undefined ? {} : { nat }),
    unmatched,
  };
}
