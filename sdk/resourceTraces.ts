/**
 * Keeps each resource's stack trace in the state to the program's own frames.
 *
 * The engine stores, with every resource, the stack trace of the call that declared it.
 * @pulumi/pulumi sends every frame: the program's few, then ts-node's loader, the SDK's
 * runtime and frames without a position, about 700 bytes a resource of which the
 * program's lines are a third. A self-managed backend writes the whole state after every
 * step, so what each resource carries is paid again at each. This keeps the frames in the
 * project's own files (not under node_modules): the resource's source position, the
 * first of them, is unchanged.
 */
import * as pulumi from "@pulumi/pulumi";

interface Frame { uri: string; line: number; column: number }

interface TracedResourceClass {
    stackTrace(skip: number): (Frame | undefined)[];
    keepsProgramFramesOnly?: boolean;
}

/** The frames a stored stack trace keeps: those with a position in the program's own files. */
export function programFrames(frames: (Frame | undefined)[]): Frame[] {
    return frames.filter((f): f is Frame => f !== undefined && !f.uri.includes("/node_modules/"));
}

/** Wraps the SDK's Resource.stackTrace once per process; call it before declaring any resource. */
export function keepProgramFramesOnly(): void {
    const sdk = pulumi.Resource as unknown as TracedResourceClass;
    if (sdk.keepsProgramFramesOnly) {
        return;
    }
    const trace = sdk.stackTrace.bind(sdk);
    // One frame more to skip: this wrapper's own.
    sdk.stackTrace = (skip: number) => programFrames(trace(skip + 1));
    sdk.keepsProgramFramesOnly = true;
}
