#!/usr/bin/env bash
# Debian packages the tests run for real on this machine: the servers whose own
# checks validate what nordfleet renders (nginx -t, nft -c, sshd -t, modprobe, postgres), the gateway
# benchmark's load generator and proxies, and the reliability suite's scanners.
set -euo pipefail
TEST_PACKAGES="nginx-light nftables postgresql-15 pgbackrest rabbitmq-server python3-psycopg2 python3-pika dnsutils dnsmasq-base curl wrk haproxy openssl
    kmod openssh-server ssh-audit sslscan lynis nmap logrotate"
missing=()
for p in $TEST_PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
apt-get update -qq
# Installed for their binaries only: a policy-rc.d that refuses keeps the packages'
# scripts from starting nginx, PostgreSQL or RabbitMQ on this machine.
policy=/usr/sbin/policy-rc.d
[ -e "$policy" ] || { printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && trap 'rm -f "$policy"' EXIT; }
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
