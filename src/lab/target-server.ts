// "The internet" of the lab: probe targets served by a small Node program inside each ISP namespace,
// on addresses of the ISP's loopback. TCP listeners accept and close; HTTP servers answer
// GET /generate_204 with 204 and anything else with 404.
import type { ProbeTarget } from "./topology.js";

/** What the server prints on stdout once every listener is bound. */
export const TARGET_SERVER_READY = "ready";

/**
 * The server's entry point. It runs in a child `node` that receives this function as source
 * (Function.prototype.toString), so it is self-contained: node built-ins only, loaded inside, and
 * only anonymous inner functions (transpilers may wrap named ones in helpers the child lacks).
 */
export async function targetServerMain(configJson: string): Promise<void> {
  const net = await import("node:net");
  const http = await import("node:http");
  const targets = JSON.parse(configJson) as ProbeTarget[];
  const bound: Array<Promise<void>> = [];
  for (const t of targets) {
    for (const port of t.tcp) {
      const server = net.createServer((socket) => {
        socket.on("error", () => undefined);
        socket.end();
      });
      bound.push(
        new Promise((resolve, reject) => {
          server.once("error", reject);
          server.listen(port, t.address, () => resolve());
        }),
      );
    }
    for (const port of t.http) {
      const server = http.createServer((req, res) => {
        const found = req.method === "GET" && req.url === "/generate_204";
        res.writeHead(found ? 204 : 404, { connection: "close" });
        res.end();
      });
      bound.push(
        new Promise((resolve, reject) => {
          server.once("error", reject);
          server.listen(port, t.address, () => resolve());
        }),
      );
    }
  }
  await Promise.all(bound);
  process.stdout.write("ready\n");
}

/** The command that runs the server for these targets. */
export function targetServerArgv(targets: readonly ProbeTarget[]): string[] {
  const source = `(${targetServerMain.toString()})(process.argv[1]).catch((e) => { console.error(e); process.exit(1); });`;
  return [process.execPath, "--input-type=module", "-e", source, JSON.stringify(targets)];
}
