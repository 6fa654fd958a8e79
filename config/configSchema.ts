/**
 * The config's shape, from one machine-readable schema (config/schema.json): every key
 * at every depth. An unknown key is refused with its full path and the nearest known
 * key, so `hostkey:` for `hostKey:` cannot quietly turn a setting off. What the values
 * may be (ranges, residency, overlaps, capacity) stays in code: config/validate/.
 */
import * as fs from "fs";
import * as path from "path";

export interface SchemaNode {
    description?: string;
    type?: string | string[];
    enum?: unknown[];
    properties?: Record<string, SchemaNode>;
    additionalProperties?: boolean | SchemaNode;
    items?: SchemaNode;
    anyOf?: SchemaNode[];
    $ref?: string;
    definitions?: Record<string, SchemaNode>;
}

export const CONFIG_SCHEMA: SchemaNode = JSON.parse(fs.readFileSync(path.join(__dirname, "schema.json"), "utf8"));

/** Every top-level setting, in the schema's order. */
export const CONFIG_KEYS: readonly string[] = Object.keys(CONFIG_SCHEMA.properties!);

export function resolveRef(node: SchemaNode): SchemaNode {
    if (node.$ref === undefined) {
        return node;
    }
    const name = node.$ref.replace("#/definitions/", "");
    return { ...CONFIG_SCHEMA.definitions![name], ...node, $ref: undefined };
}

/** Edit distance, case-insensitive: how far a typo is from a known key. */
function distance(a: string, b: string): number {
    const [x, y] = [a.toLowerCase(), b.toLowerCase()];
    let row = Array.from({ length: y.length + 1 }, (_, j) => j);
    for (let i = 1; i <= x.length; i++) {
        const next = [i];
        for (let j = 1; j <= y.length; j++) {
            next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (x[i - 1] === y[j - 1] ? 0 : 1));
        }
        row = next;
    }
    return row[y.length];
}

/**
 * The known key a typo most likely meant: the closest by edit distance, if it is close
 * for its length, or one that starts with the other ("sha" for "sha256").
 */
export function nearestKey(key: string, known: readonly string[]): string | undefined {
    const lower = key.toLowerCase();
    const prefix = known.find(k => lower.length >= 3 && (k.toLowerCase().startsWith(lower) || lower.startsWith(k.toLowerCase())));
    const best = known.map(k => ({ k, d: distance(key, k) })).sort((a, b) => a.d - b.d)[0];
    const close = best !== undefined && best.d <= Math.max(2, Math.floor(Math.max(key.length, best.k.length) / 2.5));
    return close ? best.k : prefix;
}

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** The branch of an anyOf that fits the value's type (an object, or anything else). */
function branchFor(node: SchemaNode, value: unknown): SchemaNode | undefined {
    return node.anyOf?.find(b => (resolveRef(b).properties !== undefined) === isMap(value));
}

function unknownKeysIn(value: unknown, schema: SchemaNode, at: string): string[] {
    const node = resolveRef(schema);
    if (node.anyOf) {
        const branch = branchFor(node, value);
        return branch ? unknownKeysIn(value, branch, at) : [];
    }
    if (Array.isArray(value) && node.items) {
        return value.flatMap((item, i) => unknownKeysIn(item, node.items!, `${at}[${i}]`));
    }
    if (!isMap(value) || (node.properties === undefined && node.additionalProperties === undefined)) {
        return [];
    }
    const known = Object.keys(node.properties ?? {});
    return Object.entries(value).flatMap(([key, item]) => {
        const field = `${at}.${key}`;
        if (node.properties?.[key]) {
            return unknownKeysIn(item, node.properties[key], field);
        }
        if (typeof node.additionalProperties === "object") {
            return unknownKeysIn(item, node.additionalProperties, field);
        }
        if (node.additionalProperties !== false) {
            return [];
        }
        const near = nearestKey(key, known);
        return [`${field}: unknown key; ${near !== undefined ? `did you mean ${near}?` : `use one of: ${known.join(", ")}`}`];
    });
}

/** Every key of the raw `nordfleet:*` config that the schema does not know, at any depth. */
export function unknownKeyProblems(raw: Record<string, unknown>): string[] {
    return Object.entries(raw).flatMap(([key, value]) => {
        const node = CONFIG_SCHEMA.properties![key];
        if (node === undefined) {
            const near = nearestKey(key, CONFIG_KEYS);
            return [`nordfleet:${key}: unknown key; ${near !== undefined ? `did you mean ${near}?` : "it is not a nordfleet " +
                `setting; use one of: ${CONFIG_KEYS.join(", ")}`}`];
        }
        return unknownKeysIn(value, node, `nordfleet:${key}`);
    });
}
