/** What the load tests read from vegeta, the HTTP load generator (Go's net/http). */

export interface LoadCounts {
    requests: number;
    non2xx: number;
    failed: number;
    errors: string[];
    /** Latency percentiles and maximum, in seconds. */
    latency: { p50: number; p99: number; max: number };
}

/** The counts of `vegeta report -type json`: status 0 is a request that got no response. */
export function vegetaCounts(reportJson: string): LoadCounts {
    const report = JSON.parse(reportJson) as {
        requests: number; status_codes: Record<string, number>; errors: string[] | null; latencies: Record<string, number>;
    };
    const seconds = (nanoseconds: number) => Math.round(nanoseconds / 1e7) / 100;
    const codes = Object.entries(report.status_codes ?? {}).map(([code, n]) => [Number(code), n]);
    return {
        requests: report.requests,
        non2xx: codes.filter(([code]) => code !== 0 && (code < 200 || code > 299)).reduce((sum, [, n]) => sum + n, 0),
        failed: codes.filter(([code]) => code === 0).reduce((sum, [, n]) => sum + n, 0),
        errors: report.errors ?? [],
        latency: { p50: seconds(report.latencies["50th"]), p99: seconds(report.latencies["99th"]), max: seconds(report.latencies.max) },
    };
}
