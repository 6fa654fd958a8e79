/**
 * Every remote command connects with a pinned host key: to its host, and to the jump
 * host in between if there is one. Without one, the command provider trusts whatever
 * key answers, and a machine in the middle would receive every secret a release holds.
 */
import { knownProperty, UNKNOWN } from "./known";

/** The resource types that open an SSH connection. */
export const CONNECTING_TYPES: readonly string[] = ["command:remote:Command", "command:remote:CopyToRemote"];

/** What is wrong with a connection's host keys; a key a preview does not know yet counts as pinned. */
export function hostKeyViolations(type: string, inputs: Record<string, unknown>): string[] {
    if (!CONNECTING_TYPES.includes(type)) {
        return [];
    }
    const violations: string[] = [];
    const check = (connection: unknown, path: string) => {
        if (connection === UNKNOWN || typeof connection !== "object" || connection === null) {
            return;
        }
        const key = knownProperty(connection, "hostKey");
        if (key !== UNKNOWN && (typeof key !== "string" || key.trim() === "")) {
            const host = knownProperty(connection, "host");
            violations.push(`${path}.hostKey: the connection to ${typeof host === "string" ? host : "its host"} pins no ` +
                `host key, so any machine answering there would be trusted with what the command sends; set ` +
                `${path}.hostKey to the host's public key ("ssh-ed25519 AAAA...")`);
        }
        const proxy = knownProperty(connection, "proxy");
        if (proxy !== undefined) {
            check(proxy, `${path}.proxy`);
        }
    };
    check(knownProperty(inputs, "connection"), "connection");
    return violations;
}
