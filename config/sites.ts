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
    /** True only for the local lab: this machine acting as a hypervisor, holding no real data. */
    lab?: boolean;
}

/**
 * The data centres nordfleet knows. Adding a site is a code change reviewed like any
 * other, so a typo in stack config can never place a VM somewhere unexpected.
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

export function findSite(id: string): Site | undefined {
    return SITES.find(s => s.id === id);
}

/**
 * The sites a stack may use: in an allowed country and, outside a lab stack, not the lab.
 */
export function allowedSites(allowedCountries: ReadonlySet<string>, isLab: boolean): Site[] {
    return SITES.filter(s => (s.lab ? isLab : allowedCountries.has(s.country)));
}

export function describeSites(sites: readonly Site[]): string {
    return sites.map(s => `${s.id} (${s.country})`).join(", ");
}
