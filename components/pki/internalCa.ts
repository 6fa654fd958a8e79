/**
 * The fleet's internal certificate authority (@pulumi/tls): the gateway's default
 * certificate, Consul's TLS, PostgreSQL's and RabbitMQ's listeners are all issued by
 * it. Its certificate is a stack output, so clients can verify what they talk to; its
 * private key never leaves the (encrypted) state.
 */
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { DEFAULT_RENEW_BEFORE_DAYS } from "../../config/types";

export interface ServerCertificateArgs {
    /** Subject common name. */
    commonName: string;
    /** Names the certificate is valid for. */
    dnsNames?: string[];
    /** Addresses the certificate is valid for. */
    ipAddresses?: string[];
    /** Also valid as a TLS client (Consul's verify_incoming needs this for agents). */
    clientAuth?: boolean;
}

export interface IssuedCertificate {
    certPem: pulumi.Output<string>;
    /** Secret. */
    privateKeyPem: pulumi.Output<string>;
}

const VALIDITY_HOURS = 24 * 365;

export class InternalCa extends pulumi.ComponentResource {
    public readonly certPem: pulumi.Output<string>;
    private readonly key: tls.PrivateKey;

    private readonly renewBeforeDays: number;

    /** `renewBeforeDays`: from that many days before a leaf's expiry, a pulumi up issues it again. */
    constructor(name: string, args: { organization: string; renewBeforeDays?: number }, opts?: pulumi.ComponentResourceOptions) {
        super("nordfleet:pki:InternalCa", name, {}, opts);
        this.renewBeforeDays = args.renewBeforeDays ?? DEFAULT_RENEW_BEFORE_DAYS;
        this.key = new tls.PrivateKey(`${name}-key`, { algorithm: "ECDSA", ecdsaCurve: "P256" }, { parent: this });
        const cert = new tls.SelfSignedCert(`${name}-cert`, {
            privateKeyPem: this.key.privateKeyPem,
            isCaCertificate: true,
            validityPeriodHours: 10 * VALIDITY_HOURS,
            earlyRenewalHours: VALIDITY_HOURS,
            allowedUses: ["cert_signing", "crl_signing", "digital_signature"],
            subject: { commonName: `${args.organization} internal CA`, organization: args.organization },
        }, { parent: this });
        this.certPem = cert.certPem;
        this.registerOutputs({ certPem: this.certPem });
    }

    /** A key and a certificate signed by this CA, as children of `parent`. */
    public issue(name: string, args: ServerCertificateArgs, parent: pulumi.Resource): IssuedCertificate {
        const key = new tls.PrivateKey(`${name}-key`, { algorithm: "ECDSA", ecdsaCurve: "P256" }, { parent });
        const request = new tls.CertRequest(`${name}-csr`, {
            privateKeyPem: key.privateKeyPem,
            subject: { commonName: args.commonName },
            dnsNames: args.dnsNames,
            ipAddresses: args.ipAddresses,
        }, { parent });
        const cert = new tls.LocallySignedCert(`${name}-cert`, {
            certRequestPem: request.certRequestPem,
            caPrivateKeyPem: this.key.privateKeyPem,
            caCertPem: this.certPem,
            validityPeriodHours: VALIDITY_HOURS,
            earlyRenewalHours: this.renewBeforeDays * 24,
            allowedUses: ["digital_signature", "key_encipherment", "server_auth", ...(args.clientAuth ? ["client_auth"] : [])],
        }, { parent });
        return { certPem: cert.certPem, privateKeyPem: pulumi.secret(key.privateKeyPem) };
    }
}
