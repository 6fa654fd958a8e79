# The trees of one service's instances under a folder (/etc/nordfleet on a host), one
# path per line: service-<name> (the plain instance) and service-<name>-<version>.
nf_service_instances() { # folder service
    local root
    for root in "$1"/service-"$2" "$1"/service-"$2"-*; do
        [ -d "$root" ] || continue
        # service-hello-blue may be version blue of hello or the service hello-blue: ask the tree.
        [ "$(cat "$root/current/service" 2>/dev/null)" = "$2" ] || continue
        echo "$root"
    done
}
