/**
 * The SDK's runtime trace: sent to the engine only when asked for, and then without
 * secrets.
 *
 * @pulumi/pulumi sends the engine a debug message for every RPC it makes, several per
 * resource, each an RPC of its own. The engine keeps them only with `--debug` or a
 * verbose log; otherwise their cost is all that is left: at 200 VMs, about a fifth of a
 * preview's time. They are sent when NORDFLEET_SDK_DEBUG_LOG is set, and dropped
 * otherwise.
 *
 * When sent, they go without the RPC's response. The SDK logs the whole of it:
 * `RegisterResource RPC finished: …; err: null, resp: …`. A resource's response carries
 * its outputs, secret ones in plain text (the RPC itself is not where secrets are
 * encrypted), and the engine writes debug messages to its log at verbosity 3, so
 * `pulumi up --verbose 3 --logtostderr` would print every generated key, password and
 * token. The response is cut off and the rest kept (which call, on what, and any error).
 */
import * as pulumi from "@pulumi/pulumi";

export const SDK_DEBUG_LOG_VARIABLE = "NORDFLEET_SDK_DEBUG_LOG";
const RPC_FINISHED = /^[\w ]+ RPC finished: /;
const RESPONSE = ", resp: ";
export const RESPONSE_NOT_LOGGED = `${RESPONSE}<not logged: it may hold secrets>`;

/** A debug message as it may be logged: an RPC's response cut off, anything else unchanged. */
export function withoutRpcResponse(message: string): string {
    const at = message.indexOf(RESPONSE);
    return RPC_FINISHED.test(message) && at >= 0 ? message.slice(0, at) + RESPONSE_NOT_LOGGED : message;
}

/**
 * Wraps the SDK's debug logger (the module object its runtime calls through) once per
 * process; call it before declaring any resource.
 */
export function limitSdkDebugLog(env: NodeJS.ProcessEnv = process.env): void {
    const log = pulumi.log as { debug: typeof pulumi.log.debug } & { limited?: boolean };
    if (log.limited) {
        return;
    }
    const debug = log.debug;
    log.debug = env[SDK_DEBUG_LOG_VARIABLE]
        ? (message, ...rest) => debug(withoutRpcResponse(message), ...rest)
        : () => Promise.resolve();
    log.limited = true;
}
