/**
 * Rendering of every file nordfleet pushes to a host. Templates are compiled with
 * `strict` (a missing field throws instead of rendering an empty string) and
 * `noEscape` (these are config files, not HTML).
 */
import * as fs from "fs";
import * as path from "path";
import Handlebars from "handlebars";

export const TEMPLATES_DIR = path.join(__dirname, "..", "templates");

const hbs = Handlebars.create();
hbs.registerHelper("indent", (text: string, width: number) =>
    String(text).trimEnd().split("\n").map(line => " ".repeat(width) + line).join("\n"));

const compiled = new Map<string, Handlebars.TemplateDelegate>();

/** Renders `templates/<name>` with `context`; throws if the template uses a field the context lacks. */
export function renderTemplate(name: string, context: object): string {
    let template = compiled.get(name);
    if (!template) {
        template = hbs.compile(readTemplate(name), { strict: true, noEscape: true });
        compiled.set(name, template);
    }
    return template(context);
}

/** The raw text of a file under templates/ (scripts are pushed as they are). */
export function readTemplate(name: string): string {
    return fs.readFileSync(path.join(TEMPLATES_DIR, name), "utf8");
}

/** Quotes a value for a POSIX shell, so config values can never break out of an assignment. */
export function shellQuote(value: string | number): string {
    return `'${String(value).replace(/'/g, `'\\''`)}'`;
}

/** `NAME='value'` lines that precede a pushed script, which reads them as plain shell variables. */
export function shellAssignments(vars: Record<string, string | number>): string {
    return Object.entries(vars).map(([k, v]) => `${k}=${shellQuote(v)}`).join("\n") + "\n";
}
