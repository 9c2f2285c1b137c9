// "The internet" of the lab: probe targets served by a small Node program inside each ISP namespace,
// on addresses of the ISP's loopback. TCP listeners accept and close; HTTP servers answer
// GET /generate_204 with 204 and anything else with 404.
import type { ProbeTarget } from "./topology.js";

/** What the server prints on stdout once every listener is bound. */
export const TARGET_SERVER_READY = "ready";

// Plain JavaScript run by a child `node -e` inside the namespace. Kept as source text rather than a
// module file: the child needs no loader and no path into this package, whether we run from src
// (tsx, vitest) or from dist. Node built-ins only. Argument: the targets as JSON.
const SERVER_SOURCE = `
const net = require("node:net");
const http = require("node:http");
const targets = JSON.parse(process.argv[1]);
const listen = (server, port, address) =>
  new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, address, resolve);
  });
const bound = [];
for (const t of targets) {
  for (const port of t.tcp) {
    const server = net.createServer((socket) => {
      socket.on("error", () => undefined);
      socket.end();
    });
    bound.push(listen(server, port, t.address));
  }
  for (const port of t.http) {
    const server = http.createServer((req, res) => {
      const found = req.method === "GET" && req.url === "/generate_204";
      res.writeHead(found ? 204 : 404, { connection: "close" });
      res.end();
    });
    bound.push(listen(server, port, t.address));
  }
}
Promise.all(bound).then(
  () => process.stdout.write("${TARGET_SERVER_READY}\\n"),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
`;

/** The command that runs the server for these targets. */
export function targetServerArgv(targets: readonly ProbeTarget[]): string[] {
  return [process.execPath, "-e", SERVER_SOURCE, JSON.stringify(targets)];
}
