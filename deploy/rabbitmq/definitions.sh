#!/bin/sh
# Write RabbitMQ definitions (users, permissions, the model's queues) for traitsweb to $1.
# Passwords come from the environment, never from the repository. Used by the
# rabbitmq image's entrypoint and by the local runner alike.
set -eu
out=${1:?usage: definitions.sh OUTPUT_FILE}
for var in TRAITSWEB_MODEL_PASSWORD TRAITSWEB_GATEWAY_PASSWORD TRAITSWEB_DESKTOP_PASSWORD; do
    eval "value=\${$var:-}"
    [ -n "$value" ] || { echo "definitions.sh: set $var" >&2; exit 1; }
    case $value in *[!A-Za-z0-9._~-]*) echo "definitions.sh: $var may hold only A-Z a-z 0-9 . _ ~ -" >&2; exit 1;; esac
done
# The broker declares the model's queues at every boot, so they exist before anyone sends: a SEND to
# /amq/queue/NAME (which never declares) to a missing queue gets a receipt and is dropped.
# Frames the model rejects (NACK requeue:false) are dead-lettered to traitsweb.dead by a policy, not by
# queue arguments: a policy also applies to queues declared before it, and can change later.
#
# Who may do what (regular expressions over queue and exchange names):
# - model: consumes the input and control queues (declaring them as the broker does, so it also
#   works first on an empty broker); publishes to the out topic (amq.topic) and answers snapshot
#   requests (default exchange); reads the dead letters.
# - gateway, desktop: send to the existing input and control queues (/amq/queue/..., the default
#   exchange: write, no configure), read the out topic through their own subscription queues and
#   temporary reply queues; they can neither consume, declare nor delete the model's queues.
client_configure='^(stomp-subscription-.*|amq\\.gen-.*)$'
client_write='^(amq\\.default|stomp-subscription-.*|amq\\.gen-.*)$'
client_read='^(amq\\.topic|stomp-subscription-.*|amq\\.gen-.*)$'
umask 077
cat > "$out" <<JSON
{
  "users": [
    {"name": "model", "password": "$TRAITSWEB_MODEL_PASSWORD", "tags": ""},
    {"name": "gateway", "password": "$TRAITSWEB_GATEWAY_PASSWORD", "tags": ""},
    {"name": "desktop", "password": "$TRAITSWEB_DESKTOP_PASSWORD", "tags": ""}
  ],
  "vhosts": [{"name": "/"}],
  "permissions": [
    {"user": "model", "vhost": "/", "configure": "^traitsweb\\\\.(in|control)\$",
     "write": "^(amq\\\\.topic|amq\\\\.default)\$", "read": "^traitsweb\\\\.(in|control|dead)\$"},
    {"user": "gateway", "vhost": "/", "configure": "$client_configure", "write": "$client_write", "read": "$client_read"},
    {"user": "desktop", "vhost": "/", "configure": "$client_configure", "write": "$client_write", "read": "$client_read"}
  ],
  "queues": [
    {"name": "traitsweb.in", "vhost": "/", "durable": true, "auto_delete": false, "arguments": {}},
    {"name": "traitsweb.control", "vhost": "/", "durable": true, "auto_delete": false, "arguments": {}},
    {"name": "traitsweb.dead", "vhost": "/", "durable": true, "auto_delete": false, "arguments": {}}
  ],
  "policies": [
    {"vhost": "/", "name": "traitsweb-dead-letters", "pattern": "^traitsweb\\\\.(in|control)\$", "apply-to": "queues",
     "priority": 0, "definition": {"dead-letter-exchange": "", "dead-letter-routing-key": "traitsweb.dead"}}
  ]
}
JSON
