/**
 * Keeps secrets out of the engine's verbose log.
 *
 * @pulumi/pulumi sends the engine a debug message for every RPC it makes, with the
 * whole response: `RegisterResource RPC finished: …; err: null, resp: …`. A resource's
 * response carries its outputs, secret ones in plain text (the RPC itself is not
 * where secrets are encrypted). The engine writes debug messages to its log at
 * verbosity 3, so `pulumi up --verbose 3 --logtostderr` would print every generated
 * key, password and token. This drops the response from those messages and keeps the
 * rest (which call, on what, and any error).
 */
import * as pulumi from "@pulumi/pulumi";

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
export function redactRpcResponsesInDebugLog(): void {
    const log = pulumi.log as { debug: typeof pulumi.log.debug } & { redactsRpcResponses?: boolean };
    if (log.redactsRpcResponses) {
        return;
    }
    const debug = log.debug;
    log.debug = (message, ...rest) => debug(withoutRpcResponse(message), ...rest);
    log.redactsRpcResponses = true;
}
