/**
 * Checks stack outputs (as `pulumi stack output --json` prints them) against the
 * versioned contract in outputs.schema.json.
 */
import Ajv from "ajv";
import * as fs from "fs";
import * as path from "path";

export const OUTPUTS_SCHEMA = JSON.parse(fs.readFileSync(path.join(__dirname, "outputs.schema.json"), "utf8"));

const validate = new Ajv({ allErrors: true }).compile(OUTPUTS_SCHEMA);

/** Every way `outputs` breaks the contract, one line each ("/hosts/gw-1/hostKey: must match ..."). */
export function contractViolations(outputs: unknown): string[] {
    if (validate(outputs)) {
        return [];
    }
    return (validate.errors ?? []).map(e => `${e.instancePath || "/"}: ${e.message}` +
        (e.params && "additionalProperty" in e.params ? ` (${(e.params as any).additionalProperty})` : ""));
}
