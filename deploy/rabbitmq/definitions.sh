#!/bin/sh
# Write RabbitMQ definitions (users and permissions) for traitsweb to $1.
# Passwords come from the environment, never from the repository. Used by the
# rabbitmq image's entrypoint and by the local runner alike.
set -eu
out=${1:?usage: definitions.sh OUTPUT_FILE}
for var in TRAITSWEB_MODEL_PASSWORD TRAITSWEB_GATEWAY_PASSWORD TRAITSWEB_DESKTOP_PASSWORD; do
    eval "value=\${$var:-}"
    [ -n "$value" ] || { echo "definitions.sh: set $var" >&2; exit 1; }
    case $value in *[!A-Za-z0-9._~-]*) echo "definitions.sh: $var may hold only A-Z a-z 0-9 . _ ~ -" >&2; exit 1;; esac
done
# Who may do what (regular expressions over queue and exchange names):
# - model: declares and consumes the input and control queues; publishes to the
#   out topic (amq.topic) and answers snapshot requests (default exchange).
# - gateway, desktop: send to the input and control queues (declaring them if
#   the model has not yet), read the out topic through their own subscription
#   queues and temporary reply queues; they cannot consume the model's queues.
client_configure='^(traitsweb\\.(in|control)|stomp-subscription-.*|amq\\.gen-.*)$'
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
     "write": "^(amq\\\\.topic|amq\\\\.default)\$", "read": "^traitsweb\\\\.(in|control)\$"},
    {"user": "gateway", "vhost": "/", "configure": "$client_configure", "write": "$client_write", "read": "$client_read"},
    {"user": "desktop", "vhost": "/", "configure": "$client_configure", "write": "$client_write", "read": "$client_read"}
  ]
}
JSON
