/**
 * Keeps the SDK from formatting a stack trace for every promise it makes.
 *
 * @pulumi/pulumi tags each promise of its runtime (several per resource) with
 * `new Error().stack`, which it prints only when a program leaks promises and
 * PULUMI_DEBUG_PROMISE_LEAKS is set. Reading `.stack` formats the trace at once, and
 * under ts-node every frame is mapped back to its TypeScript line by source-map-support:
 * at 50 VMs that was a fifth of the program's CPU time in `pulumi preview`. This runs the
 * SDK's own function with the trace limit at 0, so the tag is an empty trace and
 * everything else the function does (ids, leak bookkeeping) is unchanged. With
 * PULUMI_DEBUG_PROMISE_LEAKS set, nothing is changed and the traces are there to print.
 */
// The module object itself (its typings declare nothing), which the SDK's runtime calls through.
import debuggable = require("@pulumi/pulumi/runtime/debuggable");

interface PromiseTagging {
    debuggablePromise<T>(p: Promise<T>, ctx: unknown): Promise<T>;
    skipsPromiseStackTraces?: boolean;
}

/** Wraps the SDK's debuggablePromise once per process; call it before declaring any resource. */
export function skipPromiseStackTraces(env: NodeJS.ProcessEnv = process.env): void {
    const sdk = debuggable as unknown as PromiseTagging;
    if (env.PULUMI_DEBUG_PROMISE_LEAKS || sdk.skipsPromiseStackTraces) {
        return;
    }
    const tag = sdk.debuggablePromise;
    sdk.debuggablePromise = <T>(p: Promise<T>, ctx: unknown): Promise<T> => {
        const limit = Error.stackTraceLimit;
        Error.stackTraceLimit = 0;
        try {
            return tag(p, ctx);
        } finally {
            Error.stackTraceLimit = limit;
        }
    };
    sdk.skipsPromiseStackTraces = true;
}
