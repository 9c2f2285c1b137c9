// Checks a plan document (one read back for `apply FILE`, or one we produced) against schemas/plan.schema.json.
import { readFileSync } from "node:fs";
import { Ajv2020 } from "ajv/dist/2020.js";
import type { ErrorObject, ValidateFunction } from "ajv";
import type { PlanDocument } from "../core/plan/document.js";

// src/plan and dist/plan both sit two levels below the package root, next to schemas/.
const SCHEMA_URL = new URL("../../schemas/plan.schema.json", import.meta.url);

let validator: ValidateFunction | undefined;

function compiled(): ValidateFunction {
  if (validator === undefined) {
    const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });
    validator = ajv.compile(JSON.parse(readFileSync(SCHEMA_URL, "utf8")) as object);
  }
  return validator;
}

const words = (e: ErrorObject): string =>
  `${e.instancePath === "" ? "/" : e.instancePath}: ${e.message ?? "invalid"}`;

export function validatePlanDocument(
  value: unknown,
):
  | { readonly ok: true; readonly doc: PlanDocument }
  | { readonly ok: false; readonly errors: readonly string[] } {
  const validate = compiled();
  if (validate(value)) return { ok: true, doc: value as PlanDocument };
  return { ok: false, errors: (validate.errors ?? []).map(words) };
}
