import js from "@eslint/js";
import tseslint from "typescript-eslint";

// Layers (see docs/architecture.md): imports point down only,
//   cli → daemon → effects (and lab) → core, policy → kinds → util,
// and the pure layers (core, kinds, util) never touch files, processes or the network.
const EFFECTS = [
  "node:fs",
  "fs",
  "node:fs/promises",
  "node:child_process",
  "child_process",
  "node:net",
  "execa",
];
const restrict = (message, paths, layers) => [
  "error",
  {
    paths: paths.map((name) => ({ name, message })),
    patterns: layers.map((l) => ({ group: [`**/${l}/*`, `**/${l}/**`], message })),
  },
];
const PURE = "the pure core, the kinds and util never read files, run processes or import from a layer above";

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "coverage/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-constant-condition": ["error", { checkLoops: false }],
    },
  },
  {
    files: ["src/util/**/*.ts"],
    rules: {
      "no-restricted-imports": restrict(PURE, EFFECTS, [
        "kinds",
        "core",
        "policy",
        "effects",
        "lab",
        "daemon",
        "cli",
      ]),
    },
  },
  {
    files: ["src/kinds/**/*.ts"],
    rules: {
      "no-restricted-imports": restrict(PURE, EFFECTS, ["core", "policy", "effects", "lab", "daemon", "cli"]),
    },
  },
  {
    files: ["src/core/**/*.ts"],
    rules: { "no-restricted-imports": restrict(PURE, EFFECTS, ["effects", "lab", "daemon", "cli"]) },
  },
  {
    files: ["src/policy/**/*.ts"],
    rules: {
      "no-restricted-imports": restrict(
        "the policy sits beside the core: it imports no layer above",
        [],
        ["effects", "lab", "daemon", "cli"],
      ),
    },
  },
  {
    files: ["src/effects/**/*.ts", "src/lab/**/*.ts"],
    rules: { "no-restricted-imports": restrict("effects import no layer above", [], ["daemon", "cli"]) },
  },
  {
    files: ["src/daemon/**/*.ts"],
    rules: { "no-restricted-imports": restrict("the daemon imports nothing from the CLI", [], ["cli"]) },
  },
);
