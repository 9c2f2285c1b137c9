// The policy package's public face: load a policy, find where things were written, derive ownership.
export { DEFAULT_POLICY_PATH, loadPolicy, loadPolicyTexts } from "./load.js";
export { positionOf, LIMITS } from "./source.js";
export { ownershipOf, policySysctls } from "./ownership.js";
export { toDocument } from "./normalize.js";
export { CATALOGUE, type DiagnosticCode } from "./catalogue.js";
export {
  passphraseProblem,
  ssidProblem,
  interfaceNameProblem,
  parseProbeTarget,
  globMatches,
} from "./values.js";
export * from "../util/units.js";
export type * from "./types.js";
export { UPLINK_KINDS } from "./types.js";
