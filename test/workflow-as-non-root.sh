#!/usr/bin/env bash
# Runs the pull-request workflow's test step exactly as it is written in
# .github/workflows/preview.yml, as a user that is not root, the way GitHub's hosted
# runners run it. The step's script is read from the workflow itself, so the two
# cannot drift apart. Tests that need root skip and say why (test/hostNeeds.ts);
# `npm test` runs those as root in its next stage.
#
# The runner gets what the workflow's set-up steps give it: a checkout it owns (this
# working tree with its node_modules, as `npm ci` left it) and its own copy of the
# engine (Node.js 22, the CLI, the language host, the plugins, consul), as the
# "Cache the engine built from sources" step restores it. Nothing of it is shared with
# root's files; all of it is removed at the end.
#
# usage: bash test/workflow-as-non-root.sh [STEP-NAME]   (as root; default: the tests)
# NORDFLEET_TEST_RUNNER names the user (default: nobody).
set -euo pipefail
cd "$(dirname "$0")/.."
STEP=${1:-Unit and engine tests}
RUNNER=${NORDFLEET_TEST_RUNNER:-nobody}
WORKFLOW=.github/workflows/preview.yml

[ "$(id -u)" = 0 ] || { echo "run this as root: it switches to the user '$RUNNER'" >&2; exit 2; }
id "$RUNNER" >/dev/null 2>&1 || { echo "no user '$RUNNER' on this machine (NORDFLEET_TEST_RUNNER names another)" >&2; exit 2; }
. engine/env.sh

# The step as the workflow has it: its script and its working directory.
step_json=$(node -e '
    const yaml = require("js-yaml");
    const workflow = yaml.load(require("fs").readFileSync(process.argv[1], "utf8"));
    const steps = Object.values(workflow.jobs).flatMap(job => job.steps ?? []);
    const step = steps.find(s => s.name === process.argv[2]);
    if (!step || typeof step.run !== "string") {
        console.error(`${process.argv[1]}: no step named "${process.argv[2]}" with a run: script`);
        process.exit(2);
    }
    console.log(JSON.stringify({ run: step.run, dir: step["working-directory"] ?? "." }));
' "$WORKFLOW" "$STEP")

work=$(mktemp -d -t nordfleet-non-root.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
mkdir -p "$work/home" "$work/cache/pulumi-home"

# The checkout, under the name the workflow gives it (working-directory below): a git
# repository, as actions/checkout leaves it.
checkout="$work/$(node -p 'JSON.parse(process.argv[1]).dir' "$step_json")"
mkdir -p "$checkout"
{ git ls-files -z --cached --others --exclude-standard; printf '.git\0node_modules\0'; } \
    | tar --null --files-from=- -cf - | tar -xf - -C "$checkout"

# The engine the set-up steps put in place, in the runner's own cache.
for dir in "node-$NORDFLEET_NODE_VERSION" "pulumi-$NORDFLEET_PULUMI_VERSION" \
        "language-nodejs-$NORDFLEET_LANGUAGE_HOST_VERSION" "consul-$NORDFLEET_CONSUL_VERSION"; do
    cp -a "$NORDFLEET_CACHE/$dir" "$work/cache/"
done
cp -a "$PULUMI_HOME/plugins" "$work/cache/pulumi-home/"
chown -R "$RUNNER:" "$work"

node -p 'JSON.parse(process.argv[1]).run' "$step_json" >"$work/step.sh"
echo "[non-root] '$STEP' from $WORKFLOW, as $RUNNER (uid $(id -u "$RUNNER")) in $checkout:"
sed 's/^/[non-root]   /' "$work/step.sh"

# GitHub runs a run: script with `bash --noprofile --norc -eo pipefail`, in a clean
# environment with CI set; the engine's variables are what the set-up step exported.
cd "$checkout"
setpriv --reuid="$RUNNER" --regid="$(id -g "$RUNNER")" --clear-groups \
    env -i HOME="$work/home" USER="$RUNNER" LANG=C.UTF-8 CI=true TERM=dumb \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        NORDFLEET_CACHE="$work/cache" NORDFLEET_PLUGIN_SOURCES="${NORDFLEET_PLUGIN_SOURCES:-}" \
    bash --noprofile --norc -eo pipefail -c '. engine/env.sh && . "$1"' step "$work/step.sh"
