/**
 * docs/config.md, written from config/schema.json: one row per key at every depth, so
 * the reference cannot drift from what the loader accepts. `npm run docs:config`
 * rewrites it; a test checks it is current.
 */
import * as fs from "fs";
import * as path from "path";
import { CONFIG_SCHEMA, resolveRef, SchemaNode } from "./configSchema";

const describeType = (node: SchemaNode): string => {
    const n = resolveRef(node);
    if (n.enum) {
        return n.enum.map(v => JSON.stringify(v)).join(" \\| ");
    }
    if (n.anyOf) {
        return n.anyOf.map(describeType).join(" or ");
    }
    if (n.type === "array") {
        return `list of ${n.items ? describeType(n.items) : "values"}`;
    }
    if (n.properties) {
        return "map";
    }
    if (typeof n.additionalProperties === "object") {
        return `map of ${describeType(n.additionalProperties)}`;
    }
    return [n.type ?? "value"].flat().join(" or ");
};

function rows(node: SchemaNode, at: string): string[] {
    const n = resolveRef(node);
    const inner = n.type === "array" && n.items ? resolveRef(n.items) : n;
    const children = inner.anyOf?.map(resolveRef).find(b => b.properties)?.properties ?? inner.properties ?? {};
    return Object.entries(children).flatMap(([key, child]) => {
        const name = `${at}${key}`;
        const description = (resolveRef(child).description ?? "").replace(/\|/g, "\\|");
        return [`| \`${name}\` | ${describeType(child)} | ${description} |`, ...rows(child, `${name}.`)];
    });
}

export function renderConfigReference(): string {
    const sections = Object.entries(CONFIG_SCHEMA.properties!).map(([key, node]) => {
        const table = rows(node, "");
        return [`## nordfleet:${key}`, "", resolveRef(node).description ?? "", "", `Type: ${describeType(node)}.`, "",
            ...(table.length ? ["| key | type | meaning |", "| --- | --- | --- |", ...table, ""] : [])].join("\n");
    });
    return [
        "# Config reference",
        "",
        "Every nordfleet setting lives under the `nordfleet:` namespace of a stack file",
        "(`Pulumi.<stack>.yaml`). This page is written from `config/schema.json` by",
        "`npm run docs:config`; a test fails when it is out of date. Every key at every depth",
        "is checked: an unknown one is refused with its full path and the nearest known key.",
        "The values are checked by `config/validate/` (one module per concern), which names",
        "the field, the value and the fix, before any resource is declared.",
        "",
        ...sections,
    ].join("\n");
}

export const REFERENCE_FILE = path.join(__dirname, "..", "docs", "config.md");

if (require.main === module) {
    fs.mkdirSync(path.dirname(REFERENCE_FILE), { recursive: true });
    fs.writeFileSync(REFERENCE_FILE, renderConfigReference());
    console.log(`wrote ${REFERENCE_FILE}`);
}
