// Run inside a lab namespace by test/daemon/ledger.kernel.test.ts: open the ledger at argv[2], take
// one sample of the uplink in argv[3] (JSON) from the namespace's real /sys, write it, print its status.
import { UsageLedger, type MeteredUplink } from "../../../src/daemon/ledger.js";

const [path, uplinkJson] = process.argv.slice(2);
if (path === undefined || uplinkJson === undefined) throw new Error("usage: ledger-sample PATH UPLINK_JSON");
const uplink = JSON.parse(uplinkJson) as MeteredUplink;
const { ledger, corrupt } = await UsageLedger.open({ path });
if (corrupt !== undefined) throw corrupt;
await ledger.sample([uplink]);
ledger.flush();
process.stdout.write(JSON.stringify(ledger.status()[uplink.name]));
