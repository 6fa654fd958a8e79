/**
 * The data-residency rule as the policy pack applies it to resource inputs. It is the
 * second line of defence behind config validation: it judges what the program really
 * declared, so a resource that reached the plan by any code path is held to the rule.
 */
import { EEA_COUNTRIES, Site, siteCatalogue } from "../config/sites";
import { validateAllowedCountries, validateSite, validateSiteDeclarations } from "../config/validate/residency";
import { knownProperty, UNKNOWN } from "./known";

export interface ResidencyPolicyConfig {
    /** Where data may live: a subset of the EEA (the default). */
    allowedCountries: string[];
    /** Whether the local lab site is acceptable (lab stacks only). */
    allowLabSite: boolean;
}

export const DEFAULT_RESIDENCY_CONFIG: ResidencyPolicyConfig = {
    allowedCountries: [...EEA_COUNTRIES],
    allowLabSite: false,
};

/** Component types that place data on a hypervisor: each must say at which site. */
export const PLACING_TYPES: readonly string[] = ["nordfleet:compute:HypervisorHost", "nordfleet:compute:KvmInstance"];

export interface Placement {
    /** Where in the inputs the site was found, e.g. "backup.site". */
    path: string;
    site: unknown;
}

/** Every `site` named anywhere in a resource's inputs: each one places or sends data. */
export function placementsIn(value: unknown, path = ""): Placement[] {
    if (typeof value !== "object" || value === null) {
        return [];
    }
    const keys = Array.isArray(value) ? Array.from({ length: value.length }, (_, i) => i) : Object.keys(value);
    return keys.flatMap(key => {
        const at = typeof key === "number" ? `${path}[${key}]` : path ? `${path}.${key}` : key;
        // The stack's site declarations say what a site is, not where data goes.
        if (key === "declaredSites") {
            return [];
        }
        const item = knownProperty(value, key);
        if (key === "site") {
            return [{ path: at, site: item === UNKNOWN ? "(not known until the update)" : item }];
        }
        return item === UNKNOWN ? [] : placementsIn(item, at);
    });
}

/** What is wrong with a resource's inputs under the residency rule; empty when nothing is. */
export function residencyViolations(type: string, inputs: Record<string, unknown>, config: ResidencyPolicyConfig): string[] {
    const configProblems = validateAllowedCountries("policy config allowedCountries", config.allowedCountries);
    if (configProblems.length) {
        return configProblems;
    }
    const placements = placementsIn(inputs);
    if (placements.length === 0 && PLACING_TYPES.includes(type)) {
        return [`${type} places data but its inputs name no site; declare it with the site of its hypervisor ` +
            `(is PULUMI_NODEJS_SKIP_COMPONENT_INPUTS set?)`];
    }
    // The catalogue the loader used: the built-in sites and the stack's own, which travel
    // with every component that names a site.
    const declared = inputs.declaredSites ?? [];
    const declarationProblems = validateSiteDeclarations("declaredSites", declared);
    if (declarationProblems.length) {
        return declarationProblems;
    }
    const sites = siteCatalogue(declared as Site[]);
    const allowed = new Set(config.allowedCountries);
    return placements.flatMap(p => validateSite(p.path, p.site, allowed, config.allowLabSite ? "lab" : "prod", sites));
}
