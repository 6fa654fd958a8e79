# Source this to use the engine engine/setup.sh set up: Node.js 22, pulumi and its
# plugins, all from the cache. Sets nothing outside the current shell.
NORDFLEET_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export NORDFLEET_CACHE=${NORDFLEET_CACHE:-$HOME/.cache/nordfleet}

# Pinned versions of what does not come from package-lock.json.
export NORDFLEET_NODE_VERSION=22.23.3
# The nodejs language host; 3.259.0 starts policy packs (it implements RunPlugin).
export NORDFLEET_LANGUAGE_HOST_VERSION=3.259.0
# The last Consul release under the MPL 2.0 that needs none of the modules whose
# licence is not open source (envoyextensions, troubleshoot arrived in 1.15).
export NORDFLEET_CONSUL_VERSION=1.14.11
# Lints the pull-request workflow in CI.
export NORDFLEET_ACTIONLINT_VERSION=1.7.12
# The load test's HTTP client: Go's net/http, which retries an idempotent request that a
# keep-alive connection's close cut off, as browsers and service clients do.
export NORDFLEET_VEGETA_VERSION=12.13.0
# The lab's S3 object store. SeaweedFS tags its releases without semver's "v", so the
# module proxy knows them by commit: this is the 2026-11-09 commit of its main line.
export NORDFLEET_SEAWEEDFS_VERSION=0.0.0-20261109003541-7506e5f91cd6
# Upstream release sources of the plugins, for machines where `pulumi plugin install`
# cannot download them (see docs/lab.md, "The engine"). Defaults to ../shared/plugin-sources
# beside the checkout where that folder exists.
if [ -z "${NORDFLEET_PLUGIN_SOURCES:-}" ] && [ -x "$NORDFLEET_ROOT/../shared/plugin-sources/build.sh" ]; then
    NORDFLEET_PLUGIN_SOURCES=$(cd "$NORDFLEET_ROOT/../shared/plugin-sources" && pwd)
fi
export NORDFLEET_PLUGIN_SOURCES

export NORDFLEET_NODE_DIR="$NORDFLEET_CACHE/node-$NORDFLEET_NODE_VERSION"
NORDFLEET_PULUMI_VERSION=$(sed -n 's/^ *"@pulumi\/pulumi": "\([0-9.]*\)".*/\1/p' "$NORDFLEET_ROOT/package.json")
export NORDFLEET_PULUMI_VERSION
export PATH="$NORDFLEET_NODE_DIR/bin:$NORDFLEET_CACHE/language-nodejs-$NORDFLEET_LANGUAGE_HOST_VERSION:$NORDFLEET_CACHE/pulumi-$NORDFLEET_PULUMI_VERSION/bin:$NORDFLEET_CACHE/actionlint-$NORDFLEET_ACTIONLINT_VERSION:$NORDFLEET_CACHE/vegeta-$NORDFLEET_VEGETA_VERSION:/usr/local/go/bin:$PATH"

# Plugins live in nordfleet's own Pulumi home, away from any other Pulumi set-up.
export PULUMI_HOME=${PULUMI_HOME:-$NORDFLEET_CACHE/pulumi-home}
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
