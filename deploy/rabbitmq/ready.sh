#!/bin/sh
# Exit 0 when this RabbitMQ node is ready for traitsweb: its STOMP listener is up and every binding the
# definitions declare is in (the broker imports definitions after its listeners open, bindings last; until
# then a SEND to the traitsweb exchange gets a receipt and reaches no queue). The image's healthcheck, and
# the local runner's wait for a node; rabbitmqctl's node is RABBITMQ_NODENAME's, as for any CLI tool.
# Usage: ready.sh [STOMP_PORT] [DEFINITIONS_SCRIPT]
set -eu
port=${1:-61613}
definitions=${2:-traitsweb-definitions.sh}
rabbitmq-diagnostics -q check_port_listener "$port" >/dev/null
expected=$(sh "$(command -v "$definitions" || echo "$definitions")" --bindings)
present=$(rabbitmqctl -q list_bindings --no-table-headers source_name destination_name routing_key)
missing=$(printf '%s\n' "$expected" | grep -Fxv -e "$present" || true)
if [ -n "$missing" ]; then
    echo "ready.sh: bindings not yet imported:" >&2
    printf '%s\n' "$missing" >&2
    exit 1
fi
