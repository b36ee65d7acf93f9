#!/bin/sh
# traitsweb's rabbitmq entrypoint: write the users (passwords from the environment) as
# definitions the broker loads at boot, then hand over to the image's own entrypoint.
set -eu
/usr/local/bin/traitsweb-definitions.sh /etc/rabbitmq/traitsweb/definitions.json
exec docker-entrypoint.sh "$@"
