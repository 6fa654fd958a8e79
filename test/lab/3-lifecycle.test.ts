/**
 * The lab fleet's lifecycle, each step through the real engine: a no-change `pulumi up`
 * that contacts no host, in-place growth of a volume and of memory, removal of a host
 * that keeps its protected volume, a `pulumi up` killed half-way and the one after it,
 * and `pulumi destroy`. Runs last: it ends with the fleet destroyed.
 */
import { expect } from "chai";
import { spawn } from "child_process";
import * as path from "path";
import {
    acceptedSshSessions, LAB_ENV, LabFleet, labOutputs, labPulumi, mustLabPulumi, readStackFile, ROOT, sleep,
    writeLabStackVariant,
} from "./labStack";
import { LAB_NS } from "./labHost";

const seconds = (since: number) => Math.round((Date.now() - since) / 100) / 10;

describe("the lab fleet's lifecycle through the engine", function () {
    this.timeout(60 * 60 * 1000);
    let fleet: LabFleet;
    /** The stack file of the last successful `pulumi up`: each step edits the one before. */
    let current: string;
    let step = 0;
    const edited = (edit: (config: Record<string, any>) => void) => {
        current = writeLabStackVariant(`step${++step}`, edit, current);
        return current;
    };
    const hostIn = (config: Record<string, any>, name: string) =>
        config["nordfleet:hosts"].find((h: any) => h.name === name);
    const up = (file: string) => {
        const started = Date.now();
        const out = mustLabPulumi(["up", "--yes", "--skip-preview"], file);
        console.log(`      pulumi up: ${seconds(started)} s`);
        return out;
    };
    const onHv = async (command: string) => (await fleet.onHypervisor(command)).stdout;
    const bootId = (host: string) => fleet.mustOnGuest(host, "cat /proc/sys/kernel/random/boot_id");

    before(() => {
        fleet = new LabFleet(labOutputs());
        current = writeLabStackVariant("step0", () => undefined);
    });
    after(() => fleet?.close());

    it("does nothing on a second pulumi up, and contacts no guest or hypervisor", () => {
        const before = acceptedSshSessions();
        const previewStarted = Date.now();
        mustLabPulumi(["preview", "--expect-no-changes"], current);
        const previewTime = seconds(previewStarted);
        const upStarted = Date.now();
        const out = mustLabPulumi(["up", "--yes", "--skip-preview", "--expect-no-changes"], current);
        const upTime = seconds(upStarted);
        const contacted = acceptedSshSessions() - before;
        console.log(`      no-change preview ${previewTime} s, no-change up ${upTime} s, SSH sessions opened: ${contacted}`);
        expect(out).to.match(/\d+ unchanged/);
        expect(contacted).to.equal(0);
    });

    it("grows a data volume and adds memory in place, keeping the guest's identity and data", async () => {
        const serial = fleet.outputs.hosts["app-1"].volumeSerials.scratch;
        const disk = `/dev/disk/by-id/virtio-${serial}`;
        await fleet.mustOnGuest("app-1", `printf nordfleet-data | dd of=${disk} conv=fsync status=none`);
        const sizeBefore = Number(await fleet.mustOnGuest("app-1", `blockdev --getsize64 ${disk}`));
        const memKb = async () => Number(await fleet.mustOnGuest("app-1", "awk '/MemTotal/ {print $2}' /proc/meminfo"));
        const memBefore = await memKb();
        const bootBefore = await bootId("app-1");

        up(edited(config => {
            const app = hostIn(config, "app-1");
            app.dataDisks[0].sizeGb += 1;
            app.memoryMb += 128;
        }));

        // A memory change restarts the guest; SSH with the same pinned host key proves its identity.
        let size = 0;
        for (let i = 0; i < 60 && !size; i++) {
            const r = await fleet.onGuest("app-1", `blockdev --getsize64 ${disk}`);
            size = r.status === 0 ? Number(r.stdout) : (await sleep(5000), 0);
        }
        expect(size).to.equal(sizeBefore + 2 ** 30);
        expect(await memKb() - memBefore).to.be.greaterThan(100 * 1024);
        expect(await bootId("app-1")).to.not.equal(bootBefore);
        expect(await fleet.mustOnGuest("app-1", `head -c 14 ${disk}`)).to.equal("nordfleet-data");
    });

    it("removes a host's domain and disks when it leaves the config, keeping its protected volume", async () => {
        const keep = fleet.outputs.hosts["probe-1"].volumeSerials.keep;
        expect(keep, "probe-1 has a protected volume named keep").to.be.a("string");
        await fleet.mustOnGuest("probe-1", `printf nordfleet-kept | dd of=/dev/disk/by-id/virtio-${keep} conv=fsync status=none`);

        up(edited(config => {
            config["nordfleet:hosts"] = config["nordfleet:hosts"].filter((h: any) => h.name !== "probe-1");
        }));

        expect(await onHv("virsh -q list --all --name")).to.not.match(/^probe-1$/m);
        expect(await onHv("ls /var/lib/nordfleet-lab/images")).to.not.match(/^probe-1$/m);
        expect(await onHv("ls /var/lib/nordfleet-lab/nvme")).to.match(/^probe-1-keep\.qcow2$/m);
        expect(labOutputs().hosts).to.not.have.property("probe-1");
    });

    it("converges after a pulumi up killed while the guest is being created: one guest, the protected volume intact", async () => {
        const tracked = readStackFile(path.join(ROOT, "Pulumi.lab.yaml")).config;
        const file = edited(config => config["nordfleet:hosts"].push(hostIn(tracked, "probe-1")));
        const cli = spawn("ip", ["netns", "exec", LAB_NS, "pulumi", "up", "--yes", "--skip-preview", "--stack", "lab",
            "--config-file", file, "--non-interactive"], { cwd: ROOT, env: LAB_ENV, detached: true, stdio: "ignore" });
        // Kill the CLI once the hypervisor has defined the domain, i.e. mid-create.
        let defined = false;
        for (let i = 0; i < 240 && !defined; i++) {
            await sleep(1000);
            defined = /^probe-1$/m.test(await onHv("virsh -q list --all --name"));
        }
        process.kill(-cli.pid!, "SIGKILL");
        expect(defined, "the domain was being created when the CLI was killed").to.equal(true);

        // A killed CLI leaves its lock and pending operations behind.
        const again = labPulumi(["up", "--yes", "--skip-preview"], file);
        if (again.status !== 0 && /locked/.test(again.output)) {
            console.log("      the killed run left its lock: pulumi cancel");
            mustLabPulumi(["cancel", "--yes"], file);
            up(file);
        } else if (again.status !== 0) {
            throw new Error(`pulumi up after the kill failed:\n${again.output}`);
        } else {
            console.log(`      second pulumi up converged:\n${again.output.split("\n").filter(l => /pending|warning|created|Resources/i.test(l)).join("\n")}`);
        }
        expect((await onHv("virsh -q list --all --name")).split("\n").filter(n => n === "probe-1")).to.have.length(1);
        // The killed run's CREATE operations stay recorded as pending until someone confirms
        // them: Pulumi's documented resolution, once the hypervisor shows the one guest, is a
        // refresh that clears them.
        const pending = () => (JSON.parse(mustLabPulumi(["stack", "export"], file)).deployment.pending_operations ?? [])
            .map((op: any) => `${op.type} ${op.resource.urn.split("::").pop()}`);
        console.log(`      pending after the converging up: ${JSON.stringify(pending())}`);
        mustLabPulumi(["refresh", "--yes", "--skip-preview", "--clear-pending-creates"], file);
        expect(pending()).to.deep.equal([]);
        mustLabPulumi(["preview", "--expect-no-changes"], file);
        fleet.close();
        fleet = new LabFleet(labOutputs());
        const keep = fleet.outputs.hosts["probe-1"].volumeSerials.keep;
        expect(await fleet.mustOnGuest("probe-1", `head -c 14 /dev/disk/by-id/virtio-${keep}`)).to.equal("nordfleet-kept");
    });

    it("leaves no domain, no bridge and no volume but the protected ones after pulumi destroy", async () => {
        const listing = async () => ({
            domains: (await onHv("virsh -q list --all --name")).split("\n").filter(Boolean).sort(),
            bridges: (await onHv("ip -o link show type bridge | awk -F': ' '{print $2}'")).split("\n").filter(b => /^br\d+$/.test(b)).sort(),
            volumes: (await onHv("ls /var/lib/nordfleet-lab/nvme")).split("\n").filter(Boolean).sort(),
            images: (await onHv("ls /var/lib/nordfleet-lab/images")).split("\n").filter(Boolean).sort(),
        });
        const before = await listing();
        console.log(`      before: ${JSON.stringify(before)}`);
        const started = Date.now();
        mustLabPulumi(["destroy", "--yes", "--skip-preview"], current);
        console.log(`      pulumi destroy: ${seconds(started)} s`);
        const after = await listing();
        console.log(`      after:  ${JSON.stringify(after)}`);

        const protectedVolumes = Object.entries<any>(fleet.outputs.hosts).flatMap(([name, h]) =>
            Object.keys(h.volumeSerials).filter(d => protectedDisk(name, d)).map(d => `${name}-${d}.qcow2`)).sort();
        expect(after.domains).to.deep.equal([]);
        expect(after.bridges).to.deep.equal([]);
        expect(after.volumes).to.deep.equal(protectedVolumes);
        expect(after.images).to.deep.equal(["debian-12-nordfleet.qcow2", "initrd-nordfleet.img", "vmlinuz-nordfleet"]);
    });

    // As config/load.ts defaults it: protected when the stack says so, or on a database host.
    const protectedDisk = (host: string, disk: string) => {
        const spec = hostIn(readStackFile(current).config, host)?.dataDisks?.find((d: any) => d.name === disk);
        return spec?.protect ?? fleet.outputs.hosts[host].role === "postgres";
    };
});
