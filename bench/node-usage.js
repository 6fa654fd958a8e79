// Preloaded (NODE_OPTIONS=--require) into every Node.js process a benchmarked pulumi
// command starts: on exit, writes the process's own peak memory and CPU time to
// $NORDFLEET_BENCH_USAGE_DIR/<pid>.json. Plain JavaScript, so it loads before ts-node.
"use strict";
const fs = require("fs");
const path = require("path");

const dir = process.env.NORDFLEET_BENCH_USAGE_DIR;
if (dir) {
    process.on("exit", () => {
        const usage = process.resourceUsage();
        fs.writeFileSync(path.join(dir, `${process.pid}.json`), JSON.stringify({
            argv: process.argv.slice(1),
            maxRssKb: usage.maxRSS,
            cpuSeconds: (usage.userCPUTime + usage.systemCPUTime) / 1e6,
            wallSeconds: process.uptime(),
        }));
    });
}
