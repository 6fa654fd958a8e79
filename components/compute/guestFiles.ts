/**
 * Files nordfleet writes inside a guest. Each is recorded with its SHA-256 in the
 * domain's libvirt metadata on the hypervisor, out of the guest's reach, so the
 * doctor can tell a file changed by hand from what the last `pulumi up` pushed.
 */
import * as crypto from "crypto";
import { FirstBootDns } from "../../config/dns";
import { readTemplate, renderTemplate } from "../render";

const RESOLV_CONF = "/etc/resolv.conf";

export interface GuestFile {
    path: string;
    permissions: string;
    content: string;
}

export interface PushedFileDigest {
    path: string;
    sha256: string;
}

/**
 * What a guest gets at first boot, whatever its role: the sshd drop-in, and with
 * resolvers its /etc/resolv.conf (so names outside the fleet resolve from the start).
 */
export function baselineGuestFiles(dns?: FirstBootDns): GuestFile[] {
    return [
        { path: "/etc/ssh/sshd_config.d/10-nordfleet.conf", permissions: "0644", content: readTemplate("guest/sshd-nordfleet.conf") },
        ...(dns === undefined || dns.resolvers.length === 0 ? [] : [
            { path: RESOLV_CONF, permissions: "0644", content: renderTemplate("guest/resolv.conf.hbs", { resolvers: dns.resolvers }) },
        ]),
    ];
}

/** The first boot's files that stay as it wrote them: the ones whose digests the doctor checks. */
export function recordedGuestFiles(dns?: FirstBootDns): GuestFile[] {
    return baselineGuestFiles(dns).filter(f => !(f.path === RESOLV_CONF && dns?.handedToConsul));
}

export function digestsOf(files: GuestFile[]): PushedFileDigest[] {
    return files.map(f => ({ path: f.path, sha256: crypto.createHash("sha256").update(f.content).digest("hex") }));
}

/** The digests as the domain metadata carries them (one `<nordfleet:file>` element each). */
export function parsePushedFiles(domainXml: string): PushedFileDigest[] {
    // libvirt hands metadata back re-serialised (double quotes), so accept either quote.
    return [...domainXml.matchAll(/<nordfleet:file\s+path=(['"])([^'"]+)\1\s+sha256=(['"])([0-9a-f]{64})\3\s*\/>/g)]
        .map(m => ({ path: m[2], sha256: m[4] }));
}
