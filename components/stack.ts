/**
 * Everything one stack declares: the fleet, then the platform on it. `index.ts` exports
 * its outputs; `npm run render` declares the same under mocks to show what it pushes.
 */
import { LoadedFleet } from "../config/load";
import { Fleet } from "./fleet";
import { Platform } from "./platform/platform";

/** The name every resource of a stack descends from. */
export const STACK_ROOT = "nordfleet";

export function declareStack(loaded: LoadedFleet): { fleet: Fleet; platform: Platform } {
    const fleet = new Fleet(STACK_ROOT, loaded);
    const platform = new Platform(STACK_ROOT, { loaded, fleet });
    // Once every release is declared: each guest's ledger of them, with the platform that made them.
    for (const instance of Object.values(fleet.instances)) {
        instance.writeLedger(platform);
    }
    return { fleet, platform };
}
