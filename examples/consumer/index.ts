/**
 * A program another team owns: it reads a nordfleet stack's outputs through
 * StackReference and turns them into what it needs. Run it with
 *   pulumi config set fleetStack organization/nordfleet/lab && pulumi up
 */
import * as pulumi from "@pulumi/pulumi";
import { addressesOfRole, checkContract, FleetOutputs, knownHosts, sshConfig } from "./inventory";

const config = new pulumi.Config();
const fleet = new pulumi.StackReference(config.require("fleetStack"));

const outputs = pulumi.all({
    contractVersion: fleet.requireOutput("contractVersion"),
    sites: fleet.requireOutput("sites"),
    hosts: fleet.requireOutput("hosts"),
}).apply(o => {
    checkContract(o.contractVersion as string);
    return o as unknown as FleetOutputs;
});

export const serviceAddresses = outputs.apply(f => addressesOfRole(f, "service"));
export const databaseAddresses = outputs.apply(f => addressesOfRole(f, "postgres"));
export const brokerAddresses = outputs.apply(f => addressesOfRole(f, "rabbitmq"));
export const sshConfigText = outputs.apply(f => sshConfig(f, "root"));
export const knownHostsText = outputs.apply(knownHosts);
