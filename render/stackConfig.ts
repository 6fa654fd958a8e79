/** Reads a stack file (Pulumi.<stack>.yaml) as the loader would, with placeholders for what only a deploy reads. */
import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import { placeholder } from "../components/placeholder";
import { LoadedFleet, parseFleetConfig, RawConfig, SuppliedMaterial, withHostKeysFromFiles } from "../config/load";
import { FleetConfig } from "../config/types";

export const PROJECT_DIR = path.join(__dirname, "..");

export function loadStackFile(stack: string, projectDir = PROJECT_DIR): LoadedFleet {
    const file = path.join(projectDir, `Pulumi.${stack}.yaml`);
    const parsed = yaml.load(fs.readFileSync(file, "utf8")) as { config?: Record<string, unknown> } | undefined;
    const raw: RawConfig = {};
    for (const [key, value] of Object.entries(parsed?.config ?? {})) {
        if (key.startsWith("nordfleet:")) {
            raw[key.slice("nordfleet:".length)] = value;
        }
    }
    const loaded = parseFleetConfig(raw);
    const config = withHostKeysFromFiles(loaded.config, (_, field) => placeholder("file", field), false);
    return { ...loaded, config, supplied: suppliedPlaceholders(config) };
}

/** The operator's files and secret values, each named by its config key. */
function suppliedPlaceholders(config: FleetConfig): SuppliedMaterial {
    const tls = config.gateway.tls;
    return {
        hypervisorKey: config.ssh.keyFile === undefined ? undefined : placeholder("secret", "nordfleet:ssh.keyFile"),
        gatewayTls: tls === undefined ? undefined : {
            certPem: placeholder("file", "nordfleet:gateway.tls.certFile"),
            keyPem: placeholder("secret", "nordfleet:gateway.tls.keyFile"),
        },
        backupCaPem: config.backup?.caFile === undefined ? undefined : placeholder("file", "nordfleet:backup.caFile"),
        backupCredentials: !config.backup?.url.startsWith("s3:") ? undefined : {
            accessKeyId: placeholder("secret", "nordfleet:backupCredentials.accessKeyId"),
            secretAccessKey: placeholder("secret", "nordfleet:backupCredentials.secretAccessKey"),
        },
    };
}
