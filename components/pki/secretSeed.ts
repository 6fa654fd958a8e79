/**
 * Many secrets from one random seed. Each is HKDF-SHA256 of the seed under a label of
 * its own, so knowing one (an agent's token, say) tells nothing about the others.
 *
 * Why not one random resource per secret: @pulumi/random's RandomUuid, RandomBytes
 * and RandomString use their value as the resource id, and the state never encrypts
 * ids. A RandomPassword's id is "none" and its result is a secret, so the seed is
 * encrypted in the state and what is derived from it appears nowhere in plain text.
 * One seed is also one resource per cluster instead of several per VM.
 */
import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { derived } from "../placeholder";

const SALT = "nordfleet";

const deriveBytes = (seed: string, label: string, length: number) =>
    Buffer.from(crypto.hkdfSync("sha256", seed, SALT, label, length));

/** `length` bytes derived from the seed for `label`, in base64 (`<secret:label>` in a render). */
export function deriveBase64(seed: string, label: string, length: number): string {
    return derived([seed], label, () => deriveBytes(seed, label, length).toString("base64"));
}

/** A version 4 UUID derived from the seed for `label` (Consul's token format). */
export function deriveUuid(seed: string, label: string): string {
    return derived([seed], label, () => {
        const b = deriveBytes(seed, label, 16);
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        const hex = b.toString("hex");
        return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join("-");
    });
}

/** The seed itself: 64 letters and digits, a secret in the state. */
export function secretSeed(name: string, parent: pulumi.Resource): pulumi.Output<string> {
    return new random.RandomPassword(name, { length: 64, special: false }, { parent }).result;
}
