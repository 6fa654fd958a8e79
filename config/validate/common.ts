/** What every validator shares: the problem list, how a value is shown, names, numbers and paths. */

export type Problems = string[];

export const show = (value: unknown): string => JSON.stringify(value);

const RFC1123_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export function validateHostName(field: string, name: unknown): Problems {
    if (typeof name !== "string" || !RFC1123_LABEL.test(name)) {
        return [`${field}: ${show(name)} is not a valid host name; use 1-63 lower-case letters, digits and ` +
            `hyphens, starting and ending with a letter or digit (RFC 1123)`];
    }
    return [];
}

export function validateInteger(field: string, value: unknown, min: number, max: number): Problems {
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
        return [`${field}: ${show(value)} is out of range; use a whole number from ${min} to ${max}`];
    }
    return [];
}

export function validateFileName(field: string, name: unknown, example: string): Problems {
    if (typeof name !== "string" || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
        return [`${field}: ${show(name)} is not a file name; use the name of a file in each hypervisor's image ` +
            `pool, e.g. "${example}"`];
    }
    return [];
}

export function validateAbsolutePath(field: string, path: unknown): Problems {
    if (typeof path !== "string" || !/^\/[A-Za-z0-9._/-]*$/.test(path) || path.includes("..")) {
        return [`${field}: ${show(path)} is not a plain absolute path; use one like "/var/lib/nordfleet/images"`];
    }
    return [];
}

export function isDnsName(name: unknown): boolean {
    return typeof name === "string" && name.length <= 253 && name.split(".").every(l => RFC1123_LABEL.test(l));
}

export function validatePath(field: string, path: unknown, prefix: boolean): Problems {
    const pattern = prefix ? /^\/[a-z0-9._~-]+(\/[a-z0-9._~-]+)*\/$/ : /^\/[A-Za-z0-9._~\/-]*$/;
    if (typeof path !== "string" || !pattern.test(path)) {
        return [`${field}: ${show(path)} is not a valid path; use ${prefix
            ? "a lower-case prefix that starts and ends with \"/\", e.g. \"/orders/\""
            : "an absolute path such as \"/healthz\""}`];
    }
    return [];
}

export function duplicates<T>(values: T[]): T[] {
    return [...new Set(values.filter((v, i) => values.indexOf(v) !== i))];
}
