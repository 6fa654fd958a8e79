/**
 * nordfleet: read config -> validate -> build the fleet and the platform on it -> export outputs.
 * Config is validated in full before any resource is declared.
 */
import * as pulumi from "@pulumi/pulumi";
import { ConfigError, LoadedFleet, loadFleetConfig } from "./config/load";
import { declareStack } from "./components/stack";
import { limitSdkDebugLog } from "./sdk/debugLog";
import { skipPromiseStackTraces } from "./sdk/promiseTraces";
import { keepProgramFramesOnly } from "./sdk/resourceTraces";

limitSdkDebugLog();
skipPromiseStackTraces();
keepProgramFramesOnly();

function load(): LoadedFleet {
    try {
        return loadFleetConfig();
    } catch (e) {
        // A config problem is the user's to fix, not a crash: print it without a stack trace.
        throw e instanceof ConfigError ? new pulumi.RunError(e.message) : e;
    }
}

const loaded = load();
for (const warning of loaded.warnings) {
    pulumi.log.warn(warning);
}
const { fleet, platform } = declareStack(loaded);

/**
 * Version of the output contract below (contract/outputs.schema.json); bumped on any
 * breaking change. Nothing here is secret: other teams read it without the passphrase.
 * Operators get the deploy key from the state (`npm run deploy-key`).
 */
export const contractVersion = "2";
export const environment = loaded.config.environment;
export const allowedCountries = loaded.config.allowedCountries;
export const sites = loaded.config.hypervisors.map(h => ({ hypervisor: h.name, site: h.site, address: h.address, hostKey: h.hostKey }));
export const vlans = fleet.vlans.map(v => ({ name: v.name, id: v.id, cidr: v.cidr }));
export const hosts = fleet.hostOutputs();
export const deployPublicKey = fleet.deployPublicKey;
export const caCertPem = platform.ca.certPem;
export const gatewayUrls = platform.gateways.map(g => g.url);
export const services = platform.serviceOutputs(loaded.config);
