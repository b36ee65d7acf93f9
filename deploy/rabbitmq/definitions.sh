#!/bin/sh
# Write RabbitMQ definitions (users, permissions, the model's queues) for traitsweb to $1.
# Passwords come from the environment, never from the repository. Used by the
# rabbitmq image's entrypoint and by the local runner alike.
set -eu
# The exchange-to-queue bindings, "SOURCE DESTINATION KEY" (KEY may be empty), one per line. The broker
# imports them last, after its listeners have opened, so a STOMP port that answers does not yet mean a
# SEND to the traitsweb exchange reaches a queue: deploy/rabbitmq/ready.sh waits for these.
bindings='traitsweb traitsweb.in.quorum in.quorum
traitsweb traitsweb.control.quorum control.quorum
traitsweb.journal traitsweb.journal
traitsweb.checkpoints traitsweb.checkpoints'
if [ "${1:-}" = "--bindings" ]; then  # as rabbitmqctl list_bindings source_name destination_name routing_key prints them
    printf '%s\n' "$bindings" | while read -r source destination key; do
        printf '%s\t%s\t%s\n' "$source" "$destination" "$key"
    done
    exit 0
fi
out=${1:?usage: definitions.sh OUTPUT_FILE | --bindings}
for var in TRAITSWEB_MODEL_PASSWORD TRAITSWEB_GATEWAY_PASSWORD TRAITSWEB_DESKTOP_PASSWORD; do
    eval "value=\${$var:-}"
    [ -n "$value" ] || { echo "definitions.sh: set $var" >&2; exit 1; }
    case $value in *[!A-Za-z0-9._~-]*) echo "definitions.sh: $var may hold only A-Z a-z 0-9 . _ ~ -" >&2; exit 1;; esac
done
# The broker declares the model's queues, and the exchange clients send to them through, at every boot, so
# they exist before anyone sends: a SEND (which never declares) that reaches no queue gets a receipt and
# is dropped. The input and control queues are quorum queues (replicated over a cluster's nodes) with a
# single active consumer (one model receives, in order, however many subscribe). A queue's
# type cannot change, so they have new names; the classic traitsweb.in and traitsweb.control of older
# releases are left as they are for `traitsweb upgrade` to empty (docs/scaling.md).
# Frames the model rejects (NACK requeue:false) are dead-lettered to traitsweb.dead by a policy, not by
# queue arguments: a policy also applies to queues declared before it, and can change later.
# The gateways' durable out queues (stomp-subscription-traitsweb.out.REPLICA) get their Raft leaders spread
# over the nodes by a policy (queue-leader-locator balanced; the STOMP plugin passes no such header), not on
# the node each replica happens to be connected to: one node's death then leaves most replicas reading.
#
# Who may do what (regular expressions over queue and exchange names):
# - model: consumes the input and control queues (by name: it declares nothing); publishes to the
#   out topic (amq.topic) and answers snapshot requests (default exchange); reads the dead letters and
#   the legacy classic queues (the upgrade).
# - gateway, desktop: send to the input and control queues through the direct exchange traitsweb
#   (keys in.quorum, control.quorum: bound to the quorum queues below; write on it, no configure),
#   read the out topic through their own subscription queues and temporary reply queues; they can
#   neither consume, declare nor delete the model's queues. No write on the default exchange: that
#   would reach every queue whose name a client knows (the dead letters, other connections'
#   subscription and reply queues), as RabbitMQ has no per-queue right for it.
# Topic permissions (regular expressions over amq.topic routing keys, checked when a subscription binds
# and when a message is published; {username} is the connecting user): everyone reads the out topic
# (traitsweb.out); a gateway also its pattern traitsweb.out.# (with the private messages of the sessions
# gateways act for, traitsweb.out.gateway.SESSION); a desktop user only traitsweb.private.ITSELF.SESSION,
# never a wildcard, so a desktop password reads no browser's private errors. Only the model publishes.
# - the model's journal and checkpoints are streams written through exchanges of their own names: only
#   the model may write them (everyone may write the default exchange, so it cannot guard a queue);
#   gateways may read the journal (replay for late replicas and old clients). traitsweb.lease is a quorum
#   queue with a single active consumer: the model holding it is the one that applies inputs.
# Retention: the journal keeps ~1 GB (whole segments of 64 MB are dropped oldest first), the model
# checkpoints at least every TRAITSWEB_CHECKPOINT_BYTES (64 MB) of journal, so what follows the latest
# checkpoint is always kept; the checkpoint stream keeps ~256 MB and its newest message is never dropped.
session_key='[0-9a-f]{32}'
client_configure='^(stomp-subscription-.*|amq\\.gen-.*)$'
client_write='^(traitsweb|stomp-subscription-.*|amq\\.gen-.*)$'
client_read='^(amq\\.topic|stomp-subscription-.*|amq\\.gen-.*)$'
gateway_read='^(amq\\.topic|stomp-subscription-.*|amq\\.gen-.*|traitsweb\\.journal)$'
binding_json=$(printf '%s\n' "$bindings" | while read -r source destination key; do
    printf '%s\n    {"source": "%s", "vhost": "/", "destination": "%s", "destination_type": "queue", "routing_key": "%s", "arguments": {}}' \
        "${sep:-}" "$source" "$destination" "$key"
    sep=,
done)
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
    {"user": "model", "vhost": "/", "configure": "^\$",
     "write": "^(amq\\\\.topic|amq\\\\.default|traitsweb\\\\.(journal|checkpoints))\$",
     "read": "^traitsweb\\\\.(in|control|dead|in\\\\.quorum|control\\\\.quorum|journal|checkpoints|lease)\$"},
    {"user": "gateway", "vhost": "/", "configure": "$client_configure", "write": "$client_write", "read": "$gateway_read"},
    {"user": "desktop", "vhost": "/", "configure": "$client_configure", "write": "$client_write", "read": "$client_read"}
  ],
  "topic_permissions": [
    {"user": "model", "vhost": "/", "exchange": "amq.topic", "read": "^\$",
     "write": "^traitsweb\\\\.(out|out\\\\.gateway\\\\.$session_key|private\\\\.[A-Za-z0-9_-]+\\\\.$session_key)\$"},
    {"user": "gateway", "vhost": "/", "exchange": "amq.topic", "write": "^\$", "read": "^traitsweb\\\\.out(\\\\.#)?\$"},
    {"user": "desktop", "vhost": "/", "exchange": "amq.topic", "write": "^\$",
     "read": "^traitsweb\\\\.(out|private\\\\.{username}\\\\.$session_key)\$"}
  ],
  "queues": [
    {"name": "traitsweb.in.quorum", "vhost": "/", "durable": true, "auto_delete": false,
     "arguments": {"x-queue-type": "quorum", "x-single-active-consumer": true}},
    {"name": "traitsweb.control.quorum", "vhost": "/", "durable": true, "auto_delete": false,
     "arguments": {"x-queue-type": "quorum", "x-single-active-consumer": true}},
    {"name": "traitsweb.dead", "vhost": "/", "durable": true, "auto_delete": false, "arguments": {}},
    {"name": "traitsweb.journal", "vhost": "/", "durable": true, "auto_delete": false,
     "arguments": {"x-queue-type": "stream", "x-max-length-bytes": 1073741824,
                   "x-stream-max-segment-size-bytes": 67108864}},
    {"name": "traitsweb.checkpoints", "vhost": "/", "durable": true, "auto_delete": false,
     "arguments": {"x-queue-type": "stream", "x-max-length-bytes": 268435456,
                   "x-stream-max-segment-size-bytes": 67108864}},
    {"name": "traitsweb.lease", "vhost": "/", "durable": true, "auto_delete": false,
     "arguments": {"x-queue-type": "quorum", "x-single-active-consumer": true, "x-max-length": 16}}
  ],
  "exchanges": [
    {"name": "traitsweb", "vhost": "/", "type": "direct", "durable": true, "auto_delete": false, "internal": false,
     "arguments": {}},
    {"name": "traitsweb.journal", "vhost": "/", "type": "fanout", "durable": true, "auto_delete": false,
     "internal": false, "arguments": {}},
    {"name": "traitsweb.checkpoints", "vhost": "/", "type": "fanout", "durable": true, "auto_delete": false,
     "internal": false, "arguments": {}}
  ],
  "bindings": [$binding_json
  ],
  "policies": [
    {"vhost": "/", "name": "traitsweb-dead-letters", "pattern": "^traitsweb\\\\.(in|control)(\\\\.quorum)?\$", "apply-to": "queues",
     "priority": 0, "definition": {"dead-letter-exchange": "", "dead-letter-routing-key": "traitsweb.dead"}},
    {"vhost": "/", "name": "traitsweb-out-queues", "pattern": "^stomp-subscription-traitsweb\\\\.out\\\\.", "apply-to": "queues",
     "priority": 0, "definition": {"queue-leader-locator": "balanced"}}
  ]
}
JSON
