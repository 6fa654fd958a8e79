/**
 * Declares a stack with the program's own code under Pulumi's mocks and records every
 * remote command it would run: the host, the command line, its stdin and its delete
 * command. What `pulumi up` would generate (keys, passwords, certificates) comes back as
 * a placeholder named after its resource (components/placeholder.ts).
 */
import * as pulumi from "@pulumi/pulumi";
import { LoadedFleet } from "../config/load";
import { placeholder } from "../components/placeholder";
import { declareStack, STACK_ROOT } from "../components/stack";

export interface CapturedCommand {
    /** The resource's name, without the stack's root prefix. */
    name: string;
    /** The address it connects to, and the hop in between if any. */
    host: string;
    proxy?: string;
    create?: string;
    stdin?: string;
    delete?: string;
}

const COMMAND = "command:remote:Command";

/** What the tls and random providers would return, as placeholders. */
function generatedState(type: string, name: string): Record<string, string> {
    switch (type) {
        case "tls:index/privateKey:PrivateKey":
            return {
                privateKeyOpenssh: placeholder("secret", name), privateKeyPem: placeholder("secret", name),
                publicKeyOpenssh: placeholder("generated", `${name}.public`),
            };
        case "tls:index/selfSignedCert:SelfSignedCert":
        case "tls:index/locallySignedCert:LocallySignedCert":
            return { certPem: placeholder("generated", name) };
        case "tls:index/certRequest:CertRequest":
            return { certRequestPem: placeholder("generated", name) };
        case "random:index/randomPassword:RandomPassword":
            return { result: placeholder("secret", name) };
        case COMMAND:
            return { stdout: placeholder("generated", `${name}.stdout`), stderr: "" };
        default:
            return {};
    }
}

/** Inputs arrive with secrets wrapped; a render shows them (they are placeholders by now). */
function unwrapSecrets(value: any): any {
    if (pulumi.runtime.isRpcSecret?.(value)) {
        return unwrapSecrets(pulumi.runtime.unwrapRpcSecret(value));
    }
    if (Array.isArray(value)) {
        return value.map(unwrapSecrets);
    }
    if (typeof value === "object" && value !== null) {
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, unwrapSecrets(v)]));
    }
    return value;
}

export async function captureCommands(loaded: LoadedFleet, stack: string): Promise<CapturedCommand[]> {
    const commands: CapturedCommand[] = [];
    const prefix = `${STACK_ROOT}-`;
    pulumi.runtime.setMocks({
        newResource(args) {
            const name = args.name.startsWith(prefix) ? args.name.slice(prefix.length) : args.name;
            if (args.type === COMMAND) {
                const inputs = unwrapSecrets(args.inputs);
                commands.push({
                    name, host: inputs.connection.host, proxy: inputs.connection.proxy?.host,
                    create: inputs.create, stdin: inputs.stdin, delete: inputs.delete,
                });
            }
            return { id: `${name}-id`, state: { ...args.inputs, ...generatedState(args.type, name) } };
        },
        call(args) {
            throw new Error(`the program made an invoke (${args.token}); render cannot answer it`);
        },
    }, STACK_ROOT, stack, true);
    declareStack(loaded);
    await pulumi.runtime.disconnect();
    return commands;
}
