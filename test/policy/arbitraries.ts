// Generators of valid policy documents (as a person would write them) for property tests.
import fc from "fast-check";

const UNITS = [
  ["ms", 1],
  ["s", 1000],
  ["m", 60_000],
] as const;

/** A duration text of about `ms` milliseconds, written in a unit that fits. */
const durationText = (minMs: number, maxMs: number) =>
  fc
    .integer({ min: minMs, max: maxMs })
    .chain((ms) =>
      fc
        .constantFrom(...UNITS.filter(([, f]) => ms % f === 0))
        .map(([u, f]) => ({ ms, text: `${ms / f}${u}` })),
    );

const kind = fc.constantFrom("ethernet", "wifi", "lte", "usb-tether", "bt-pan");
const ifname = fc.stringMatching(/^(eth|wwan|usb|bnep|wlp)[0-9]{1,2}$/);
const uplinkName = fc.stringMatching(/^[a-z][a-z0-9-]{0,12}$/);

const metered = fc.record(
  {
    budget: fc
      .tuple(fc.integer({ min: 1, max: 500 }), fc.constantFrom("MB", "GiB", "GB", "MiB"))
      .map(([n, u]) => `${n}${u}`),
    period: fc.constantFrom("daily", "weekly", "monthly"),
    resetDay: fc.integer({ min: 1, max: 7 }),
    onExhausted: fc.constantFrom("emergency-only", "never", "keep"),
  },
  { requiredKeys: ["budget"] },
);

const uplinkBody = (i: number, iface: string) =>
  fc
    .record({
      select: fc.oneof(
        fc.constant({ interface: iface }),
        fc
          .record({
            match: fc.record({ kind, name: fc.constantFrom("usb*", "enx*", "bnep?") }, { requiredKeys: [] }),
          })
          .filter((m) => Object.keys(m.match).length > 0),
      ),
      kind: fc.option(kind, { nil: undefined }),
      addressing: fc.constantFrom("external", "static", "dhcp"),
      bias: fc.option(fc.integer({ min: -1000, max: 1000 }), { nil: undefined }),
      use: fc.option(fc.constantFrom("normal", "emergency-only", "never"), { nil: undefined }),
      weight: fc.option(fc.integer({ min: 1, max: 256 }), { nil: undefined }),
      metered: fc.option(metered, { nil: undefined }),
      gatewayAuto: fc.boolean(),
    })
    .map((u) => {
      const doc: Record<string, unknown> = { ...u.select };
      // A match with a kind and a different explicit kind is refused: keep them the same.
      const matchKind = (u.select as { match?: { kind?: string } }).match?.kind;
      if (u.kind !== undefined) doc.kind = matchKind ?? u.kind;
      doc.addressing = u.addressing;
      if (u.addressing === "static") doc.address = `100.64.${i}.2/24`;
      doc.gateway = u.gatewayAuto ? "auto" : `100.64.${i}.1`;
      for (const k of ["bias", "use", "weight", "metered"] as const) if (u[k] !== undefined) doc[k] = u[k];
      return doc;
    });

const uplinks = fc
  .uniqueArray(fc.tuple(uplinkName, ifname), { minLength: 1, maxLength: 5, selector: ([n]) => n })
  .filter((xs) => new Set(xs.map(([, i]) => i)).size === xs.length)
  .chain((xs) =>
    fc.tuple(...xs.map(([name, iface], i) => uplinkBody(i, iface).map((b) => ({ name, ...b })))),
  );

const target = fc.oneof(
  fc.integer({ min: 1, max: 65535 }).map((p) => `tcp://198.51.100.10:${p}`),
  fc.constant("http://198.51.100.10/generate_204"),
  fc
    .integer({ min: 200, max: 399 })
    .map((s) => ({ url: "https://203.0.113.10:8443/health?full=1", expect: s })),
  fc.constant("dns://203.0.113.53/example.org"),
  fc.constant("icmp://[2001:db8::10]"),
  fc.constant("icmp://probe.example.net"),
);

const probes = fc
  .record({
    targets: fc.uniqueArray(target, {
      minLength: 1,
      maxLength: 4,
      selector: (t) => (typeof t === "string" ? t : t.url),
    }),
    interval: durationText(500, 120_000),
    degraded: fc.integer({ min: 1, max: 10 }),
    extraDown: fc.integer({ min: 1, max: 10 }),
    holdDown: fc.option(
      fc.record(
        { upToDegraded: durationText(0, 600_000), probingToUp: durationText(0, 600_000) },
        { requiredKeys: [] },
      ),
      {
        nil: undefined,
      },
    ),
    degradedLoss: fc.option(
      fc.integer({ min: 0, max: 100 }).map((n) => `${n}%`),
      { nil: undefined },
    ),
    batteryFactor: fc.option(fc.double({ min: 1, max: 100, noNaN: true }), { nil: undefined }),
  })
  .chain((p) =>
    fc
      .record({
        quorum: fc.integer({ min: 1, max: p.targets.length }),
        timeout: durationText(10, p.interval.ms - 1),
        jitter: durationText(0, p.interval.ms - 1),
      })
      .map((q) => ({
        targets: p.targets,
        quorum: q.quorum,
        interval: p.interval.text,
        timeout: q.timeout.text,
        jitter: q.jitter.text,
        failuresBeforeDegraded: p.degraded,
        failuresBeforeDown: p.degraded + p.extraDown,
        ...(p.holdDown
          ? { holdDown: Object.fromEntries(Object.entries(p.holdDown).map(([k, v]) => [k, v.text])) }
          : {}),
        ...(p.degradedLoss ? { degradedLoss: p.degradedLoss } : {}),
        ...(p.batteryFactor !== undefined ? { batteryFactor: p.batteryFactor } : {}),
      })),
  );

const selection = fc.record(
  {
    strategy: fc.constantFrom("failover", "balance"),
    maxRtt: durationText(1, 10_000).map((d) => d.text),
    switchMargin: fc.integer({ min: 0, max: 1000 }),
    thresholds: fc
      .tuple(fc.integer({ min: 0, max: 2000 }), fc.integer({ min: 0, max: 2000 }))
      .map(([a, b]) => ({ fail: Math.min(a, b), recover: Math.max(a, b) })),
    rateLimit: fc.record({
      switches: fc.integer({ min: 1, max: 100 }),
      window: durationText(1000, 3_600_000).map((d) => d.text),
    }),
    noUsableUplink: fc.constantFrom("keep-last", "withdraw"),
  },
  { requiredKeys: [] },
);

const hotspot = fc
  .record(
    {
      interface: fc.constant("wlanap0"),
      activate: fc.constantFrom("when-no-uplink", "always", "never"),
      ssid: fc.stringMatching(/^[A-Za-z0-9 _-]{1,32}$/),
      channel: fc.constantFrom(1, 6, 11, 36, 149),
      rotation: fc.constantFrom("never", "24h", "7d"),
      address: fc.constant("100.64.200.1/24"),
      dhcp: fc
        .integer({ min: 2, max: 100 })
        .map((n) => ({ start: `100.64.200.${n}`, end: `100.64.200.${n + 100}` })),
      nat: fc.boolean(),
      maxClients: fc.integer({ min: 1, max: 50 }),
    },
    { requiredKeys: ["interface", "address"] },
  )
  .chain((h) =>
    fc.oneof(
      fc.constant({ ...h, driver: "wired", security: "open" }),
      fc
        .record({
          security: fc.constantFrom("wpa2", "wpa3", "wpa2-wpa3"),
          country: fc.constantFrom("DE", "KE", "US"),
        })
        .map((w) => ({ ...h, ...w, passphraseFile: "/nonexistent/backhaul-test/hotspot.psk" })),
    ),
  );

const qos = fc
  .uniqueArray(fc.constantFrom("eth0", "eth1", "wwan0", "usb0"), { maxLength: 3 })
  .chain((ifaces) =>
    fc.tuple(
      ...ifaces.map((iface) =>
        fc.record({
          interface: fc.constant(iface),
          rate: fc.integer({ min: 1, max: 1000 }).map((n) => `${n}mbit`),
          classes: fc.option(
            fc.record({
              control: fc.constant({ rate: "20%" }),
              video: fc.constant({ rate: "30%", ceil: "90%", dscp: 40, ports: [3478] }),
              bulk: fc.constant({ rate: "50%" }),
            }),
            { nil: undefined },
          ),
        }),
      ),
    ),
  )
  .map((qs) => qs.map((q) => (q.classes === undefined ? { interface: q.interface, rate: q.rate } : q)));

/** A valid policy document, as plain data ready to stringify. */
export const validPolicyDoc = fc
  .record(
    {
      uplinks,
      probes,
      selection,
      hotspot,
      qos,
      daemon: fc.record(
        {
          stateDir: fc.constantFrom("/var/lib/backhaul", "/srv/bh"),
          logLevel: fc.constantFrom("info", "debug"),
          metricsListen: fc.constantFrom("127.0.0.1:9417", "[::1]:9100"),
        },
        { requiredKeys: [] },
      ),
    },
    { requiredKeys: ["uplinks", "probes"] },
  )
  .map((d) => JSON.parse(JSON.stringify(d)) as Record<string, unknown>);
