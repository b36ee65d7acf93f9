#!/bin/sh
# Stand-in for the official rabbitmq image's entrypoint: run the command (rabbitmq-server).
set -eu
exec "$@"
