#!/bin/sh
# Install the Debian packages traitsweb needs, once: `scripts/system-deps.sh [GROUP...]`.
# Groups: base (RabbitMQ, nginx), browser (Chromium), desktop (Qt's X libraries, Xvfb),
# containers (podman, runc, debootstrap, the CNI dnsname plugin that resolves container names),
# bench (Nchan, the nginx module `make bench` compares traitsweb with). Needs root (or sudo) when something is missing.
set -eu
packages() {
    case $1 in
        base) echo rabbitmq-server nginx-light procps ;;
        browser) echo chromium fonts-dejavu-core ;;
        desktop) echo xvfb xauth libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-xkb1 libxkbcommon-x11-0 libxcb-cursor0 libgl1 libegl1 libfontconfig1 libdbus-1-3 x11-apps imagemagick ;;
        bench) echo libnginx-mod-nchan ;;
        containers) echo podman runc debootstrap uidmap slirp4netns golang-github-containernetworking-plugin-dnsname ;;
        *) echo "system-deps.sh: unknown group $1" >&2; exit 2 ;;
    esac
}
missing=""
for group in "${@:-base}"; do
    for pkg in $(packages "$group"); do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
    done
done
[ -z "$missing" ] && exit 0
echo "system-deps: installing$missing"
if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO=sudo; else
    echo "system-deps: run as root, or install:$missing" >&2; exit 1
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
