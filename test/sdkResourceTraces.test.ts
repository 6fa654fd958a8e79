import { expect } from "chai";
import * as pulumi from "@pulumi/pulumi";
import { keepProgramFramesOnly, programFrames } from "../sdk/resourceTraces";

describe("resource stack traces in the state", () => {
    it("keeps the frames in the program's own files and drops the rest", () => {
        expect(programFrames([
            { uri: "file:///p/components/platform/release.ts", line: 167, column: 23 },
            undefined,
            { uri: "file:///p/node_modules/ts-node/src/index.ts", line: 1618, column: 23 },
            { uri: "file:///p/index.ts", line: 24, column: 41 },
        ]).map(f => f.uri)).to.deep.equal(["file:///p/components/platform/release.ts", "file:///p/index.ts"]);
    });

    it("makes the SDK's trace start at its caller and hold no dependency's frame, once wrapped (twice is once)", () => {
        keepProgramFramesOnly();
        keepProgramFramesOnly();
        const traced = pulumi.Resource as unknown as { stackTrace(skip: number): { uri: string }[] };
        // As the SDK counts: skipping 1 frame skips its own function; the first left is this test's line.
        const frames = traced.stackTrace(1);
        expect(frames[0].uri).to.match(/\/test\/sdkResourceTraces\.test\.ts$/);
        expect(frames.filter(f => f.uri.includes("/node_modules/"))).to.deep.equal([]);
    });
});
