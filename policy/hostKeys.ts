/**
 * Every remote command connects with a pinned host key: to its host, and to the jump
 * host in between if there is one. Without one, the command provider trusts whatever
 * key answers, and a machine in the middle would receive every secret a release holds.
 */
import { knownProperty, UNKNOWN } from "./known";

/** The resource types that open an SSH connection. */
export const CONNECTING_TYPES: readonly string[] = ["command:remote:Command", "command:remote:CopyToRemote"];

/**
 * What is wrong with a connection's host keys. A preview does not know every value yet
 * (a guest's key is generated during the update), and the command provider then hands
 * the policy a connection with an empty host and no unknown parts: such a connection is
 * judged at the update, when the policy runs again with every value known.
 */
export function hostKeyViolations(type: string, inputs: Record<string, unknown>): string[] {
    if (!CONNECTING_TYPES.includes(type)) {
        return [];
    }
    const violations: string[] = [];
    const check = (connection: unknown, path: string) => {
        if (connection === UNKNOWN || typeof connection !== "object" || connection === null) {
            return;
        }
        const host = knownProperty(connection, "host");
        if (typeof host !== "string" || host === "") {
            return;
        }
        const key = knownProperty(connection, "hostKey");
        if (key !== UNKNOWN && (typeof key !== "string" || key.trim() === "")) {
            violations.push(`${path}.hostKey: the connection to ${host} pins no ` +
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
