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

/** The words of a line of shellQuote'd values, unquoted again. */
export function shellWords(line: string): string[] {
    const words: string[] = [];
    let word: string | undefined;
    for (let i = 0; i < line.length; i++) {
        const c = line[i];
        if (c === "'") {
            const end = line.indexOf("'", i + 1);
            word = (word ?? "") + line.slice(i + 1, end);
            i = end;
        } else if (c === "\\") {
            word = (word ?? "") + line[++i];
        } else if (c === " ") {
            if (word !== undefined) {
                words.push(word);
            }
            word = undefined;
        } else {
            word = (word ?? "") + c;
        }
    }
    return word === undefined ? words : [...words, word];
}

/** The `NAME='value'` lines at the head of a script, as shellAssignments wrote them. */
export function readAssignments(script: string): Record<string, string> {
    const vars: Record<string, string> = {};
    for (const line of script.split("\n")) {
        const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
        if (!m) {
            break;
        }
        vars[m[1]] = shellWords(m[2]).join("");
    }
    return vars;
}

/** `NAME='value'` lines that precede a pushed script, which reads them as plain shell variables. */
export function shellAssignments(vars: Record<string, string | number>): string {
    return Object.entries(vars).map(([k, v]) => `${k}=${shellQuote(v)}`).join("\n") + "\n";
}
