/**
 * What exists only once `pulumi up` has generated or read it (keys, passwords,
 * certificates, the operator's own files) appears in `npm run render` as a stable name
 * in angle brackets: `<secret:consul/gossip-key>`, `<generated:gw-1-host-key.public>`,
 * `<file:nordfleet:backup.caFile>`. A render then holds no secret and is the same from
 * run to run, and a file read back from a host matches its render once each placeholder
 * is taken as "any value".
 */
export type PlaceholderKind = "secret" | "generated" | "file";

export const placeholder = (kind: PlaceholderKind, name: string) => `<${kind}:${name}>`;

const PLACEHOLDER = /<(secret|generated|file):[A-Za-z0-9._:/-]+>/g;

/** Every placeholder in a text, in order. */
export function placeholdersIn(text: string): { kind: PlaceholderKind; text: string }[] {
    return [...text.matchAll(PLACEHOLDER)].map(m => ({ kind: m[1] as PlaceholderKind, text: m[0] }));
}

/**
 * A value computed from others (a hash, a verifier, a derived key). When an input is a
 * placeholder the result is one too, named `name`: secret if any input is.
 */
export function derived(inputs: string[], name: string, compute: () => string): string {
    const kinds = inputs.flatMap(v => placeholdersIn(v).map(p => p.kind));
    if (kinds.length === 0) {
        return compute();
    }
    return placeholder(kinds.includes("secret") ? "secret" : "generated", name);
}

/** encodeURIComponent for a value that may hold placeholders, which stay as they are. */
export function encodeUriComponent(value: string): string {
    const placeholders = placeholdersIn(value).map(p => p.text);
    return value.split(PLACEHOLDER).filter((_, i) => i % 2 === 0).map(encodeURIComponent)
        .map((literal, i) => literal + (placeholders[i] ?? "")).join("");
}

/**
 * A pattern that matches `rendered` with each placeholder standing for any text: what a
 * file read back from a host is held to.
 */
export function renderedPattern(rendered: string): RegExp {
    const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    // split() also returns each placeholder's kind (the capture group): every other part.
    const literals = rendered.split(PLACEHOLDER).filter((_, i) => i % 2 === 0);
    return new RegExp(`^${literals.map(escape).join("[\\s\\S]*?")}$`);
}
