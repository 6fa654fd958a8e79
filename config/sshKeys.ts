/** SSH public keys in config, held to what they claim to be. */
import { show } from "./validate/common";

export const HOST_KEY_TYPES = ["ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"] as const;

/** The key's own name for its type: the first string of the wire-format blob (RFC 4253 6.6). */
function blobType(blob: Buffer): string | undefined {
    if (blob.length < 4) {
        return undefined;
    }
    const length = blob.readUInt32BE(0);
    return length > 0 && blob.length >= 4 + length ? blob.subarray(4, 4 + length).toString("latin1") : undefined;
}

/**
 * Problems with a public key written "TYPE BASE64 [comment]": the type must be one
 * sshd offers, and the base64 must decode to a key of that very type (an ed25519 key
 * holds exactly 32 bytes of key).
 */
export function validatePublicKey(field: string, value: unknown, fix: string): string[] {
    const refuse = (why: string) => [`${field}: ${show(value)} ${why}; ${fix}`];
    if (typeof value !== "string") {
        return refuse("is not an SSH public key");
    }
    const [type, base64] = value.trim().split(/\s+/);
    if (!(HOST_KEY_TYPES as readonly string[]).includes(type)) {
        return refuse(`is not an SSH public key of a type nordfleet accepts (${HOST_KEY_TYPES.join(", ")})`);
    }
    if (base64 === undefined || !/^[A-Za-z0-9+/]+={0,2}$/.test(base64) || base64.length % 4 !== 0) {
        return refuse("has no valid base64 key after its type");
    }
    const blob = Buffer.from(base64, "base64");
    const inner = blobType(blob);
    if (inner !== type) {
        return refuse(`holds ${inner === undefined ? "no key" : `a ${show(inner)} key`}, not the ${type} its type names`);
    }
    if (type === "ssh-ed25519" && blob.length !== 4 + type.length + 4 + 32) {
        return refuse("is not 32 bytes of ed25519 key");
    }
    return [];
}

/** "TYPE BASE64" of a public key line (the comment dropped). */
export const publicKeyOf = (line: string) => line.trim().split(/\s+/).slice(0, 2).join(" ");
