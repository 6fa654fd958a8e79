/**
 * Where nordfleet may place or send data. The EEA is the default residency
 * boundary; a stack may narrow it (for example to Norway alone) but never widen it.
 */

/** ISO 3166-1 alpha-2 codes of the European Economic Area: the EU 27 plus Iceland, Liechtenstein and Norway. */
export const EEA_COUNTRIES: ReadonlySet<string> = new Set([
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
    "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
    "IS", "LI", "NO",
]);

export interface Site {
    /** Identifier used in stack config, e.g. "oslo-1". */
    id: string;
    city: string;
    /** ISO 3166-1 alpha-2 country code, or "local" for the lab. */
    country: string;
    /** Who runs the data centre, when a team records it. */
    provider?: string;
    /** True only for the local lab: this machine acting as a hypervisor, holding no real data. */
    lab?: boolean;
}

/**
 * The data centres nordfleet knows out of the box. A team adds its own in project or
 * stack config (`nordfleet:sites`, see `siteCatalogue`); which countries may hold data
 * stays here, in code.
 */
export const SITES: readonly Site[] = [
    { id: "oslo-1", city: "Oslo", country: "NO" },
    { id: "oslo-2", city: "Oslo", country: "NO" },
    { id: "bergen-1", city: "Bergen", country: "NO" },
    { id: "stockholm-1", city: "Stockholm", country: "SE" },
    { id: "stockholm-2", city: "Stockholm", country: "SE" },
    { id: "helsinki-1", city: "Helsinki", country: "FI" },
    { id: "copenhagen-1", city: "Copenhagen", country: "DK" },
    { id: "reykjavik-1", city: "Reykjavik", country: "IS" },
    { id: "frankfurt-1", city: "Frankfurt", country: "DE" },
    { id: "amsterdam-1", city: "Amsterdam", country: "NL" },
    { id: "dublin-1", city: "Dublin", country: "IE" },
    // Sites that exist but sit outside the EEA. They are catalogued so that a
    // stack naming one gets a residency error rather than "unknown site".
    { id: "london-1", city: "London", country: "GB" },
    { id: "zurich-1", city: "Zurich", country: "CH" },
    { id: "ashburn-1", city: "Ashburn", country: "US" },
    { id: "lab", city: "this machine", country: "local", lab: true },
];

/**
 * The built-in sites followed by those a stack declares (`nordfleet:sites`, already
 * validated: no id of its own clashes with a built-in one). The loader and the policy
 * pack both judge placements against this one list.
 */
export function siteCatalogue(declared: readonly Site[] = []): Site[] {
    return [...SITES, ...declared.map(({ id, city, country, provider }) =>
        (provider === undefined ? { id, city, country } : { id, city, country, provider }))];
}

export function findSite(id: string, sites: readonly Site[] = SITES): Site | undefined {
    return sites.find(s => s.id === id);
}

/**
 * The sites a stack may use: in an allowed country and, outside a lab stack, not the lab.
 */
export function allowedSites(allowedCountries: ReadonlySet<string>, isLab: boolean, sites: readonly Site[] = SITES): Site[] {
    return sites.filter(s => (s.lab ? isLab : allowedCountries.has(s.country)));
}

export function describeSites(sites: readonly Site[]): string {
    return sites.map(s => `${s.id} (${s.country})`).join(", ");
}
