#!/bin/sh
# Entrypoint of traitsweb's app and desktop images: secrets from files, then the command.
#  - TRAITSWEB_X_FILE=path with TRAITSWEB_X unset or empty: TRAITSWEB_X becomes the file's content
#    (Docker's *_FILE convention; compose points these at the `secrets` volume);
#  - a TRAITSWEB_BROKER_URL without a password (stomp://user@host:port) gets TRAITSWEB_BROKER_PASSWORD.
# A variable set in the environment wins over its file.
set -eu
for pair in $(env | sed -n 's/^\(TRAITSWEB_[A-Z0-9_]*\)_FILE=.*/\1/p'); do
    eval "current=\${$pair:-}; file=\${${pair}_FILE}"
    if [ -z "$current" ]; then
        [ -r "$file" ] || { echo "traitsweb-env: ${pair}_FILE: cannot read $file" >&2; exit 1; }
        value=$(cat "$file")
        export "$pair=$value"
    fi
    unset "${pair}_FILE"
done
url=${TRAITSWEB_BROKER_URL:-}
case $url in
    stomp://*:*@*) ;;
    stomp://*@*)
        [ -n "${TRAITSWEB_BROKER_PASSWORD:-}" ] || { echo "traitsweb-env: $url has no password and TRAITSWEB_BROKER_PASSWORD is unset" >&2; exit 1; }
        user=${url#stomp://}
        user=${user%%@*}
        export TRAITSWEB_BROKER_URL="stomp://$user:$TRAITSWEB_BROKER_PASSWORD@${url#stomp://*@}"
        ;;
esac
unset TRAITSWEB_BROKER_PASSWORD
exec "$@"
