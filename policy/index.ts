/**
 * nordfleet's policy pack: `pulumi preview --policy-pack policy` fails a plan that
 * would place or send data outside the allowed countries, or run a remote command
 * without a pinned host key.
 */
import { PolicyPack } from "@pulumi/policy";
import { hostKeyViolations } from "./hostKeys";
import { DEFAULT_RESIDENCY_CONFIG, residencyViolations, ResidencyPolicyConfig } from "./residency";

new PolicyPack("nordfleet-residency", {
    policies: [{
        name: "data-residency",
        description: "Every hypervisor, VM, backup target, mirror, DNS resolver and state backend sits at a site in the allowed countries (the EEA unless narrowed).",
        enforcementLevel: "mandatory",
        configSchema: {
            properties: {
                allowedCountries: {
                    type: "array",
                    items: { type: "string", pattern: "^[A-Z]{2}$" },
                    default: DEFAULT_RESIDENCY_CONFIG.allowedCountries,
                },
                allowLabSite: { type: "boolean", default: DEFAULT_RESIDENCY_CONFIG.allowLabSite },
            },
        },
        validateResource: (args, reportViolation) => {
            const config = { ...DEFAULT_RESIDENCY_CONFIG, ...args.getConfig<Partial<ResidencyPolicyConfig>>() };
            for (const violation of residencyViolations(args.type, args.props, config)) {
                reportViolation(violation);
            }
        },
    }, {
        name: "pinned-host-keys",
        description: "Every remote command pins the SSH host key of its host and of any jump host on the way.",
        enforcementLevel: "mandatory",
        validateResource: (args, reportViolation) => {
            for (const violation of hostKeyViolations(args.type, args.props)) {
                reportViolation(violation);
            }
        },
    }],
});
