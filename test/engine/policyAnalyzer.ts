/**
 * Starts the policy pack the way the Pulumi CLI does (`@pulumi/pulumi/cmd/run-policy-pack`,
 * which serves the Analyzer gRPC protocol and prints its port) and speaks to it over
 * that protocol, as the engine would during a preview.
 */
import { ChildProcess, spawn } from "child_process";
import * as path from "path";
import * as grpc from "@grpc/grpc-js";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";

// The generated protocol stubs ship with @pulumi/pulumi, without type declarations.
// eslint-disable-next-line @typescript-eslint/no-var-requires
const analyzerGrpc = require("@pulumi/pulumi/proto/analyzer_grpc_pb");
// eslint-disable-next-line @typescript-eslint/no-var-requires
const analyzerPb = require("@pulumi/pulumi/proto/analyzer_pb");

const ROOT = path.join(__dirname, "..", "..");

export interface Diagnostic {
    policyName: string;
    message: string;
    /** 0 advisory, 1 mandatory, 2 disabled, 3 remediate (pulumirpc.EnforcementLevel). */
    enforcementLevel: number;
}

export class PolicyAnalyzer {
    private constructor(private readonly child: ChildProcess, private readonly client: any) {}

    /** Starts the pack in `dir`; `engineAddress` is where it would send log messages. */
    public static start(dir: string, engineAddress: string): Promise<PolicyAnalyzer> {
        const child = spawn(process.execPath, [require.resolve("@pulumi/pulumi/cmd/run-policy-pack"), engineAddress, "."], {
            cwd: dir, env: { ...process.env, PATH: process.env.PATH }, stdio: ["ignore", "pipe", "pipe"],
        });
        let stderr = "";
        child.stderr!.on("data", d => { stderr += d; });
        return new Promise((resolve, reject) => {
            let stdout = "";
            child.stdout!.on("data", d => {
                stdout += d;
                const port = /^(\d+)\s*$/m.exec(stdout)?.[1];
                if (port) {
                    const client = new analyzerGrpc.AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
                    resolve(new PolicyAnalyzer(child, client));
                }
            });
            child.on("exit", code => reject(new Error(`policy pack exited (${code}) before serving:\n${stdout}${stderr}`)));
        });
    }

    /** The policy config a stack passes with --policy-pack-config. */
    public configure(policy: string, properties: Record<string, unknown>): Promise<void> {
        const request = new analyzerPb.ConfigureAnalyzerRequest();
        const config = new analyzerPb.PolicyConfig();
        config.setEnforcementlevel(1);
        config.setProperties(Struct.fromJavaScript(properties as any));
        request.getPolicyconfigMap().set(policy, config);
        return new Promise((resolve, reject) => this.client.configure(request, (err: Error | null) => (err ? reject(err) : resolve())));
    }

    /** Analyze, as the engine calls it for every resource it registers. */
    public analyze(type: string, name: string, inputs: Record<string, unknown>): Promise<Diagnostic[]> {
        const request = new analyzerPb.AnalyzeRequest();
        request.setType(type);
        request.setName(name);
        request.setUrn(`urn:pulumi:ci::nordfleet::${type}::${name}`);
        request.setProperties(Struct.fromJavaScript(inputs as any));
        request.setOptions(new analyzerPb.AnalyzerResourceOptions());
        return new Promise((resolve, reject) => this.client.analyze(request, (err: Error | null, response: any) => {
            if (err) {
                reject(err);
                return;
            }
            resolve(response.getDiagnosticsList().map((d: any) => ({
                policyName: d.getPolicyname(), message: d.getMessage(), enforcementLevel: d.getEnforcementlevel(),
            })));
        }));
    }

    public stop(): void {
        this.client.close();
        this.child.kill();
    }
}

export const POLICY_DIR = path.join(ROOT, "policy");
