// The JSON schemas of backhaul's own documents (schemas/), read once, for the pure readers of those
// documents (a recorded node state) that may not read files themselves.
import { readFileSync } from "node:fs";

const schemaOf = (name: string): object =>
  JSON.parse(readFileSync(new URL(`../../schemas/${name}`, import.meta.url), "utf8")) as object;

/** `plan --json`; its $defs are the kinds' objects, which other documents refer to. */
export const PLAN_SCHEMA = schemaOf("plan.schema.json");

/** `show --json`. */
export const SHOW_SCHEMA = schemaOf("show.schema.json");
