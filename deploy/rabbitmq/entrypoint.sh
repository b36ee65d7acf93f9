#!/bin/sh
# traitsweb's rabbitmq entrypoint: write the users (passwords from the environment or files) as
# definitions the broker loads at boot, then hand over to the image's own entrypoint.
set -eu
# the passwords: the environment's, else the files compose's `secrets` service wrote (TRAITSWEB_*_FILE)
for var in TRAITSWEB_MODEL_PASSWORD TRAITSWEB_GATEWAY_PASSWORD TRAITSWEB_DESKTOP_PASSWORD; do
    eval "value=\${$var:-}; file=\${${var}_FILE:-}"
    if [ -z "$value" ] && [ -n "$file" ]; then
        value=$(cat "$file") || { echo "traitsweb-entrypoint.sh: cannot read ${var}_FILE $file" >&2; exit 1; }
        export "$var=$value"
    fi
done
/usr/local/bin/traitsweb-definitions.sh /etc/rabbitmq/traitsweb/definitions.json
# a cluster's nodes (compose.cluster.yaml) share one Erlang cookie: the secrets service's, the owner's only
if [ -n "${TRAITSWEB_ERLANG_COOKIE_FILE:-}" ]; then
    install -m 400 "$TRAITSWEB_ERLANG_COOKIE_FILE" "${HOME:-/var/lib/rabbitmq}/.erlang.cookie"
fi
exec docker-entrypoint.sh "$@"
