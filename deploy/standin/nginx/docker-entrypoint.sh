#!/bin/sh
# Stand-in for the official nginx image's entrypoint, the part we rely on
# (its 20-envsubst-on-templates.sh): every /etc/nginx/templates/*.template becomes
# /etc/nginx/conf.d/<name without .template>, with only the variables that are set in the
# environment substituted, so nginx's own $variables stay as they are.
set -eu
template_dir=${NGINX_ENVSUBST_TEMPLATE_DIR:-/etc/nginx/templates}
output_dir=${NGINX_ENVSUBST_OUTPUT_DIR:-/etc/nginx/conf.d}
suffix=${NGINX_ENVSUBST_TEMPLATE_SUFFIX:-.template}
if [ "${1:-}" = nginx ] && [ -d "$template_dir" ]; then
    defined_envs=$(printf '${%s} ' $(env | cut -d= -f1))
    for template in "$template_dir"/*"$suffix"; do
        [ -f "$template" ] || continue
        name=$(basename "$template" "$suffix")
        echo "docker-entrypoint.sh: $template -> $output_dir/$name"
        envsubst "$defined_envs" < "$template" > "$output_dir/$name"
    done
fi
exec "$@"
