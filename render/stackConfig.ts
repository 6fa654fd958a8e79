/** Reads a stack file (Pulumi.<stack>.yaml) into the raw config the loader takes. */
import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import { LoadedFleet, parseFleetConfig, RawConfig } from "../config/load";

export const PROJECT_DIR = path.join(__dirname, "..");

export function loadStackFile(stack: string): LoadedFleet {
    const file = path.join(PROJECT_DIR, `Pulumi.${stack}.yaml`);
    const parsed = yaml.load(fs.readFileSync(file, "utf8")) as { config?: Record<string, unknown> } | undefined;
    const raw: RawConfig = {};
    for (const [key, value] of Object.entries(parsed?.config ?? {})) {
        if (key.startsWith("nordfleet:")) {
            raw[key.slice("nordfleet:".length)] = value;
        }
    }
    return parseFleetConfig(raw);
}
