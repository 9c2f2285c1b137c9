// Observation cost: a node with 5 uplinks (target: one full observation in 10 ms or less), and kernels
// holding 10k and 100k routes, with reading (the tools) and parsing+normalizing timed separately.
import { addNamespace, deleteNamespace, newLabId } from "../src/lab/netns.js";
import { parseObservation, readKernel } from "../src/effects/observe.js";
import { processCounter, run } from "../src/effects/exec.js";
import type { KindName } from "../src/kinds/types.js";

const UPLINKS = ["eth0", "eth1", "wwan0", "usb0", "wlan0"];

function stats(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number): number => s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
  return `median ${q(0.5).toFixed(2)} ms, p90 ${q(0.9).toFixed(2)} ms, min ${(s[0] ?? NaN).toFixed(2)} ms`;
}

async function time<T>(f: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now();
  const r = await f();
  return [r, performance.now() - t];
}

async function measure(netns: string, runs: number, kinds?: readonly KindName[]) {
  const read: number[] = [];
  const norm: number[] = [];
  const total: number[] = [];
  let procs = 0;
  let objects = 0;
  for (let i = 0; i < runs; i++) {
    const before = processCounter.started;
    const [raw, tr] = await time(() => readKernel({ netns, ...(kinds ? { kinds } : {}) }));
    const t = performance.now();
    const s = parseObservation(raw, kinds ? { kinds } : {});
    const tn = performance.now() - t;
    procs = processCounter.started - before;
    objects = Object.values(s).reduce((n, l) => n + l.length, 0);
    read.push(tr);
    norm.push(tn);
    total.push(tr + tn);
  }
  return { read, norm, total, procs, objects };
}

async function fiveUplinks(): Promise<void> {
  const id = newLabId();
  const node = `${id}n`;
  const isp = `${id}p`;
  try {
    await addNamespace(node);
    await addNamespace(isp);
    const lines = UPLINKS.flatMap((u, i) => [
      `link add ${u} type veth peer name p${i} netns ${isp}`,
      `link set ${u} up`,
      `address add 100.64.${i}.2/24 dev ${u}`,
      `route add default via 100.64.${i}.1 dev ${u} table ${101 + i} proto 99`,
      `rule add pref ${1000 + i} from 100.64.${i}.2 lookup ${101 + i} proto 99`,
    ]);
    lines.push("rule add pref 900 lookup main suppress_prefixlength 0 proto 99");
    lines.push("rule add pref 2000 lookup 100 proto 99");
    lines.push("route add default via 100.64.0.1 dev eth0 table 100 proto 99");
    await run(["ip", "-batch", "-"], { netns: node, input: lines.map((l) => `${l}\n`).join("") });
    await run(["ip", "-batch", "-"], {
      netns: isp,
      input: UPLINKS.map((_, i) => `link set p${i} up\n`).join(""),
    });
    await measure(node, 5);
    const m = await measure(node, 50);
    // The floor: starting one program through run() (execa) and ip netns exec, doing nothing.
    const floor: number[] = [];
    for (let i = 0; i < 20; i++) floor.push((await time(() => run(["true"], { netns: node })))[1]);
    process.stdout.write(
      `5 uplinks, full observation (${m.objects} objects, ${m.procs} processes):\n` +
        `  total     ${stats(m.total)}\n  read      ${stats(m.read)}\n  normalize ${stats(m.norm)}\n` +
        `  one empty process in the namespace: ${stats(floor)}\n`,
    );
  } finally {
    await deleteNamespace(node);
    await deleteNamespace(isp);
  }
}

async function manyRoutes(count: number): Promise<void> {
  const id = newLabId();
  const node = `${id}r`;
  const isp = `${id}q`;
  try {
    await addNamespace(node);
    await addNamespace(isp);
    await run(["ip", "-batch", "-"], {
      netns: node,
      input: `link add eth0 type veth peer name p0 netns ${isp}\nlink set eth0 up\naddress add 198.51.100.2/24 dev eth0\n`,
    });
    await run(["ip", "link", "set", "p0", "up"], { netns: isp });
    // Host routes in 100.64.0.0/10 spread over 10 tables, all loaded by one ip -batch.
    const lines: string[] = [];
    for (let i = 0; i < count; i++) {
      lines.push(
        `route add 100.${64 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32 via 198.51.100.1 table ${200 + (i % 10)} proto 99`,
      );
    }
    const [, load] = await time(() =>
      run(["ip", "-batch", "-"], { netns: node, input: lines.join("\n") + "\n", timeoutMs: 600_000 }),
    );
    const [, ipOnly] = await time(() =>
      run(["ip", "-N", "-j", "-d", "route", "show", "table", "all"], { netns: node }),
    );
    const runs = count >= 100_000 ? 3 : 10;
    const m = await measure(node, runs, ["route"]);
    const perK = (xs: number[]): string =>
      ((xs.sort((a, b) => a - b)[xs.length >> 1] ?? NaN) / (count / 1000)).toFixed(2);
    process.stdout.write(
      `${count} routes (loaded in ${load.toFixed(0)} ms; ip -j route show table all alone: ${ipOnly.toFixed(1)} ms):\n` +
        `  read      ${stats(m.read)} (${perK(m.read)} ms per 1000 routes)\n` +
        `  normalize ${stats(m.norm)} (${perK(m.norm)} ms per 1000 routes)\n`,
    );
  } finally {
    await deleteNamespace(node);
    await deleteNamespace(isp);
  }
}

export async function run_(): Promise<void> {
  await fiveUplinks();
  await manyRoutes(10_000);
  await manyRoutes(100_000);
}

export { run_ as run };
