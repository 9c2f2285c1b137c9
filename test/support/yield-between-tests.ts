// Every test file's setup (vitest.config.ts setupFiles). A worker answers the runner over an RPC whose
// calls time out after 60 s, and a reply is read only when the worker's event loop polls for I/O.
// Tests whose work is synchronous (property runs, verify's histories) can follow one another for
// longer than that without the loop ever polling; a turn of the loop after each test reads the replies.
import { afterEach } from "vitest";

afterEach(() => new Promise<void>((resolve) => setImmediate(resolve)));
