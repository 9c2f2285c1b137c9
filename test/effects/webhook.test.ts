import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { Webhook } from "../../src/effects/webhook.js";

/** A local receiver that answers 503 to its first `failFirst` calls, then 204; it keeps every body. */
async function receiver(
  failFirst: number,
): Promise<{ server: Server; url: string; bodies: unknown[]; calls: () => number }> {
  const bodies: unknown[] = [];
  let calls = 0;
  const server = createServer((req, res) => {
    let text = "";
    req.on("data", (c: Buffer) => (text += c.toString()));
    req.on("end", () => {
      calls++;
      if (calls <= failFirst) {
        res.statusCode = 503;
        res.end();
        return;
      }
      bodies.push(JSON.parse(text));
      res.statusCode = 204;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return { server, url: `http://127.0.0.1:${port}/hook?token=secret`, bodies, calls: () => calls };
}

const until = async (p: () => boolean): Promise<void> => {
  for (let i = 0; i < 400 && !p(); i++) await new Promise((r) => setTimeout(r, 10));
};

describe("the drift webhook", () => {
  let server: Server | undefined;
  afterEach(() => server?.close());

  it("retries a receiver that fails its first calls, with backoff, and delivers the document once", async () => {
    const r = await receiver(2);
    server = r.server;
    const w = new Webhook(r.url, { initialBackoffMs: 20 });
    w.post({ n: 1 });
    await until(() => w.delivered === 1);
    expect(r.calls()).toBe(3);
    expect(r.bodies).toEqual([{ n: 1 }]);
    await w.stop();
  });

  it("hands the document over without waiting for a dead receiver, and stops its retries on stop()", async () => {
    const w = new Webhook("http://127.0.0.1:9/", { initialBackoffMs: 600_000 });
    expect(w.post({ n: 1 })).toBeUndefined();
    // Without stop() the next try would come in ten minutes: stop() ends the wait.
    await w.stop();
    expect(w.delivered).toBe(0);
  });

  it("sends the newest report instead of retrying one it superseded", async () => {
    const r = await receiver(1);
    server = r.server;
    const w = new Webhook(r.url, { initialBackoffMs: 50 });
    w.post({ n: 1 });
    w.post({ n: 2 });
    await until(() => w.delivered === 1);
    expect(r.bodies).toEqual([{ n: 2 }]);
    await w.stop();
  });

  it("gives up after its attempts and says why, without the URL", async () => {
    const r = await receiver(100);
    server = r.server;
    const reasons: string[] = [];
    const w = new Webhook(r.url, { attempts: 3, initialBackoffMs: 5, onGiveUp: (why) => reasons.push(why) });
    w.post({ n: 1 });
    await until(() => reasons.length === 1);
    expect(r.calls()).toBe(3);
    expect(reasons[0]).toBe("3 attempts, last: HTTP 503");
    expect(reasons[0]).not.toContain("secret");
    await w.stop();
  });
});
