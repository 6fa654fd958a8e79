/**
 * Pulumi mocks for unit tests of the program's shape: every created resource is
 * recorded with its raw inputs (secrets still wrapped), and any invoke throws, since
 * the program makes none.
 */
import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import { HostLedger } from "../components/platform/hostLedger";
import { scriptOpenedBy } from "../components/platform/releaseBundle";

export const SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d";
export const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

export interface Recorded {
    type: string;
    name: string;
    inputs: Record<string, any>;
}

export const recorded: Recorded[] = [];

/** Recognisable fake key material, so a test can search for it anywhere it must not be. */
export const fakePrivateKey = (name: string) =>
    `-----BEGIN OPENSSH PRIVATE KEY-----\nSECRET-${name}\n-----END OPENSSH PRIVATE KEY-----\n`;

export function isSecretValue(value: unknown): boolean {
    return typeof value === "object" && value !== null && (value as any)[SECRET_SIG_KEY] === SECRET_SIG;
}

/** Removes secret wrappers, for assertions on plain values. */
export function reveal(value: any): any {
    if (isSecretValue(value)) {
        return reveal(value.value);
    }
    if (Array.isArray(value)) {
        return value.map(reveal);
    }
    if (typeof value === "object" && value !== null) {
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, reveal(v)]));
    }
    return value;
}

pulumi.runtime.setMocks({
    newResource(args: pulumi.runtime.MockResourceArgs): { id: string; state: Record<string, any> } {
        recorded.push({ type: args.type, name: args.name, inputs: args.inputs });
        const state: Record<string, any> = { ...args.inputs };
        if (args.type === "tls:index/privateKey:PrivateKey") {
            state.privateKeyOpenssh = fakePrivateKey(args.name);
            state.privateKeyPem = fakePrivateKey(args.name);
            state.publicKeyOpenssh = `ssh-ed25519 AAAAC3Nza${Buffer.from(args.name).toString("hex")}\n`;
        }
        // What the tls and random providers would compute, so outputs built on them resolve.
        if (args.type === "tls:index/selfSignedCert:SelfSignedCert" || args.type === "tls:index/locallySignedCert:LocallySignedCert") {
            state.certPem = `-----BEGIN CERTIFICATE-----\n${Buffer.from(args.name).toString("base64")}\n-----END CERTIFICATE-----\n`;
        }
        if (args.type === "tls:index/certRequest:CertRequest") {
            state.certRequestPem = `-----BEGIN CERTIFICATE REQUEST-----\n${args.name}\n-----END CERTIFICATE REQUEST-----\n`;
        }
        if (args.type === "random:index/randomPassword:RandomPassword") {
            state.result = `pw${crypto.createHash("sha256").update(args.name).digest("hex").slice(0, 30)}`;
        }
        if (args.type === "command:remote:Command") {
            state.stdout = `stdout of ${args.name}`;
            state.stderr = "";
        }
        return { id: `${args.name}-id`, state };
    },
    call(args: pulumi.runtime.MockCallArgs): Record<string, any> {
        throw new Error(`unexpected invoke ${args.token}`);
    },
}, "nordfleet", "unit", true);

/** Resolves an Output's value in a test. */
export function valueOf<T>(output: pulumi.Output<T>): Promise<T> {
    return new Promise(resolve => output.apply(v => { resolve(v); return v; }));
}

/** Lets every pending registration reach the mocks. */
export function settle(): Promise<void> {
    return new Promise(resolve => setTimeout(resolve, 50));
}

/** A guest's release ledger under mocks: its hypervisor, and a release key of its own. */
export const mockLedger = (host: string, hypervisor = "10.199.0.1"): HostLedger =>
    new HostLedger({ host: hypervisor }, host, pulumi.secret(`test-release-key-${host}`));

/**
 * The script a recorded release command runs: the bundle its command line names, from the
 * local cache the program wrote it to, opened with the key on its stdin.
 */
export function releaseScriptOf(applyInputs: Record<string, any>): string {
    const create = reveal(applyInputs.create) as string;
    const script = scriptOpenedBy(create, reveal(applyInputs.stdin) as string);
    if (script === undefined) {
        throw new Error(`not a release command: ${create}`);
    }
    return script;
}
