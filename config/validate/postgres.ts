/** PostgreSQL: the stack's own settings (never nordfleet's) and the backup schedule. */
import { Problems, show, validateInteger } from "./common";

/** postgresql.conf settings nordfleet itself sets to run, secure, archive and back up the cluster. */
export const MANAGED_PG_SETTINGS = [
    "data_directory", "hba_file", "ident_file", "external_pid_file", "config_file", "listen_addresses", "port",
    "unix_socket_directories", "password_encryption", "ssl", "ssl_cert_file", "ssl_key_file", "ssl_ca_file",
    "ssl_min_protocol_version", "wal_level", "archive_mode", "archive_command", "restore_command",
] as const;

const PG_SETTING_NAME = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)?$/;

/**
 * `nordfleet:postgres`: extra postgresql.conf settings for every postgres host. Names and
 * value types are checked here; whether PostgreSQL accepts a value is its own parser's
 * call, made on the host before the release goes live.
 */
export function validatePostgres(field: string, postgres: unknown): Problems {
    if (typeof postgres !== "object" || postgres === null || Array.isArray(postgres)) {
        return [`${field}: ${show(postgres)} is not a map; use { settings: { work_mem: "16MB", ... } }`];
    }
    const p = postgres as Record<string, any>;
    const problems: Problems = [];
    if (p.backup !== undefined) {
        problems.push(...validateBackupSchedule(`${field}.backup`, p.backup));
    }
    if (p.settings === undefined) {
        return problems;
    }
    if (typeof p.settings !== "object" || p.settings === null || Array.isArray(p.settings)) {
        return [...problems, `${field}.settings: ${show(p.settings)} is not a map; use { NAME: VALUE }, e.g. { work_mem: "16MB" }`];
    }
    for (const [name, value] of Object.entries(p.settings)) {
        if (!PG_SETTING_NAME.test(name)) {
            problems.push(`${field}.settings.${name}: is not a PostgreSQL setting name; use lower-case words joined by ` +
                `"_", e.g. work_mem`);
        } else if ((MANAGED_PG_SETTINGS as readonly string[]).includes(name)) {
            problems.push(`${field}.settings.${name}: is set by nordfleet (the cluster's files, TLS, listening and WAL ` +
                `archiving depend on it); remove it`);
        }
        const plain = typeof value === "number" ? Number.isFinite(value)
            : typeof value === "boolean" || (typeof value === "string" && !/[\n\r\0]/.test(value));
        if (!plain) {
            problems.push(`${field}.settings.${name}: ${show(value)} is not a setting value; use a number, true/false ` +
                `or a one-line string such as "16MB"`);
        }
    }
    return problems;
}

/** What a systemd calendar expression is made of ("Sun *-*-* 01:00:00", "daily", "Mon..Sat 02:30"). */
const ON_CALENDAR = /^[A-Za-z0-9*:,./~ +-]{1,100}$/;

/** `nordfleet:postgres.backup`: { full?, differential?, retentionDays? }. systemd checks each calendar on the host. */
export function validateBackupSchedule(field: string, backup: unknown): Problems {
    if (typeof backup !== "object" || backup === null || Array.isArray(backup)) {
        return [`${field}: ${show(backup)} is not a map; use { full: "Sun *-*-* 01:00:00", differential: ` +
            `"Mon..Sat *-*-* 01:00:00", retentionDays: 14 }`];
    }
    const b = backup as Record<string, unknown>;
    const problems: Problems = [];
    for (const key of ["full", "differential"]) {
        if (b[key] !== undefined && !(typeof b[key] === "string" && ON_CALENDAR.test(b[key] as string))) {
            problems.push(`${field}.${key}: ${show(b[key])} is not a systemd calendar expression; use one such as ` +
                `"Sun *-*-* 01:00:00" or "daily" (see systemd.time(7))`);
        }
    }
    if (b.retentionDays !== undefined) {
        problems.push(...validateInteger(`${field}.retentionDays`, b.retentionDays, 1, 3650));
    }
    return problems;
}
