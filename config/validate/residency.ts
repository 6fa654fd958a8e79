/** Where data may live: allowed countries, sites (built in and declared), and every endpoint's site. */
import { allowedSites, describeSites, EEA_COUNTRIES, findSite, Site, SITES } from "../sites";
import { Endpoint, Environment } from "../types";
import { duplicates, Problems, show } from "./common";

export function validateAllowedCountries(field: string, countries: unknown): Problems {
    if (!Array.isArray(countries) || countries.length === 0) {
        return [`${field}: ${show(countries)} must be a non-empty list of EEA country codes, e.g. ["NO", "SE"]`];
    }
    const outside = countries.filter(c => typeof c !== "string" || !EEA_COUNTRIES.has(c));
    if (outside.length) {
        return [`${field}: ${show(outside)} ${outside.length === 1 ? "is" : "are"} not in the EEA; a stack may ` +
            `only narrow residency to EEA countries: ${[...EEA_COUNTRIES].join(", ")}`];
    }
    return [];
}

/**
 * `nordfleet:sites`: a team's own data centres, added to the built-in catalogue. Any
 * country code may be declared; whether data may go there is still decided by the
 * allowed countries when a hypervisor or endpoint names the site.
 */
export function validateSiteDeclarations(field: string, sites: unknown): Problems {
    if (!Array.isArray(sites)) {
        return [`${field}: ${show(sites)} is not a list; use [{ id: "tampere-1", city: "Tampere", country: "FI", provider?: "..." }]`];
    }
    const problems: Problems = duplicates(sites.map(s => s?.id).filter(id => typeof id === "string")).map(id =>
        `${field}: the id ${show(id)} is declared more than once; give every site its own id`);
    sites.forEach((s, i) => {
        const at = `${field}[${i}]`;
        if (typeof s !== "object" || s === null || Array.isArray(s)) {
            problems.push(`${at}: ${show(s)} is not a site; use { id, city, country, provider? }`);
            return;
        }
        const builtIn = typeof s.id === "string" ? findSite(s.id) : undefined;
        if (typeof s.id !== "string" || !/^[a-z][a-z0-9-]{0,62}$/.test(s.id)) {
            problems.push(`${at}.id: ${show(s.id)} is not a site id; use lower-case letters, digits and "-", e.g. "tampere-1"`);
        } else if (builtIn) {
            problems.push(`${at}.id: ${show(s.id)} is a built-in site (${builtIn.city}, ${builtIn.country}); ` +
                `use it without declaring it, or pick another id`);
        }
        if (typeof s.city !== "string" || s.city.trim() === "") {
            problems.push(`${at}.city: ${show(s.city)} is empty; name the city the data centre is in`);
        }
        if (typeof s.country !== "string" || !isCountryCode(s.country)) {
            problems.push(`${at}.country: ${show(s.country)} is not an ISO 3166-1 alpha-2 code; use one such as "FI" or "NO"`);
        }
        if (s.provider !== undefined && (typeof s.provider !== "string" || s.provider.trim() === "")) {
            problems.push(`${at}.provider: ${show(s.provider)} is empty; name who runs the data centre, or leave it out`);
        }
    });
    return problems;
}

// ICU's region names (Node ships them) know every assigned ISO 3166-1 code; these few
// regions it also names are not countries.
const REGION_NAMES = new Intl.DisplayNames(["en"], { type: "region", fallback: "none" });

const NOT_COUNTRIES = new Set(["EU", "EZ", "UN", "ZZ", "QO"]);

function isCountryCode(code: string): boolean {
    return /^[A-Z]{2}$/.test(code) && !NOT_COUNTRIES.has(code) && REGION_NAMES.of(code) !== undefined;
}

export function validateSite(field: string, site: unknown, allowedCountries: ReadonlySet<string>,
                             environment: Environment, sites: readonly Site[] = SITES): Problems {
    const allowed = allowedSites(allowedCountries, environment === "lab", sites);
    if (typeof site === "string" && allowed.some(s => s.id === site)) {
        return [];
    }
    const known = typeof site === "string" ? findSite(site, sites) : undefined;
    const why = known === undefined ? "is not a known site"
        : known.lab ? "is the local lab, allowed only in a lab stack"
            : `is in ${known.country}, outside the allowed countries (${[...allowedCountries].join(", ")})`;
    return [`${field}: ${show(site)} ${why}; use one of: ${describeSites(allowed)}`];
}

/**
 * An endpoint data goes to or comes from: a URL with one of `schemes`, at a site the
 * stack may use. A URL alone cannot say where its bytes live, so the site is mandatory.
 */
export function validateEndpoint(field: string, endpoint: unknown, schemes: readonly string[],
                                 allowedCountries: ReadonlySet<string>, environment: Environment,
                                 sites: readonly Site[] = SITES): Problems {
    if (typeof endpoint !== "object" || endpoint === null || Array.isArray(endpoint)) {
        return [`${field}: ${show(endpoint)} is not an endpoint; use { url: "${schemes[0]}://...", site: "oslo-1" }`];
    }
    const { url, site } = endpoint as Partial<Endpoint>;
    const scheme = typeof url === "string" ? /^([a-z][a-z0-9+.-]*):\/\/[^\s]+$/.exec(url)?.[1] : undefined;
    return [
        ...(scheme !== undefined && schemes.includes(scheme) ? []
            : [`${field}.url: ${show(url)} is not a URL nordfleet can use here; use one starting with ` +
                `${schemes.map(s => `${s}://`).join(" or ")}`]),
        ...validateSite(`${field}.site`, site, allowedCountries, environment, sites),
    ];
}

/**
 * The state backend the CLI was pointed at, where the program can know it: the CLI
 * passes its environment on, so a PULUMI_BACKEND_URL set for the run is visible here.
 */
export function validateKnownBackend(stateBackend: Endpoint | undefined, backendUrl: string | undefined): Problems {
    if (stateBackend === undefined || backendUrl === undefined || backendUrl === stateBackend.url) {
        return [];
    }
    return [`nordfleet:stateBackend.url: ${show(stateBackend.url)} is not where this run keeps its state ` +
        `(PULUMI_BACKEND_URL is ${show(backendUrl)}); point the CLI at the declared backend or declare ` +
        `the one in use, with its site`];
}
