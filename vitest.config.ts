import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Kernel tests create namespaces; they run in separate files and share nothing. One file at a time
    // on two cores (vitest's default, cores - 1): with three or four at once, timing-sensitive kernel
    // tests (confirm deadlines, the fast path) failed in a clean-clone CI under outside load.
    pool: "forks",
    // Guards against a hang, not timing assertions: files running beside each other slow each other.
    testTimeout: 180_000,
    hookTimeout: 180_000,
  },
});
