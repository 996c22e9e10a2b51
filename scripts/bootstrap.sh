#!/usr/bin/env bash
# Prepare everything the product and its tests need, from nothing, idempotently.
#   - Debian packages: headers to build psycopg2/python-ldap, Chromium for the tours, nginx for the
#     production-like stack (scripts/run.sh --production; run as a child process, never as a service).
#   - A virtualenv cached under $CC_CACHE (keyed on Odoo's and the addon's requirements).
# Prints the virtualenv's path on its last line of stdout; everything else goes to stderr.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
ODOO_PATH=${ODOO_PATH:-/opt/odoo}
CC_CACHE=${CC_CACHE:-$HOME/.cache/contact_centre}
log() { echo "[bootstrap] $*" >&2; }

have_odoo() { [ -f "$ODOO_PATH/odoo-bin" ] && [ -d "$ODOO_PATH/odoo/addons/base" ]; }

install_debian_packages() {
    local wanted=(libpq-dev libldap2-dev libsasl2-dev chromium nginx)
    local missing=()
    for p in "${wanted[@]}"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" != 0 ] && ! command -v sudo >/dev/null; then
        log "missing Debian packages ${missing[*]} and no root to install them"
        return 0
    fi
    local sudo=""; [ "$(id -u)" != 0 ] && sudo=sudo
    log "installing Debian packages: ${missing[*]}"
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

requirements_key() {
    { have_odoo && cat "$ODOO_PATH/requirements.txt"; cat "$here/requirements.txt" "$here/requirements-dev.txt"; \
      python3 --version; } | sha1sum | cut -c1-12
}

build_venv() {
    local venv=$1
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q 'setuptools<70' wheel >&2
    if have_odoo; then
        # Odoo pins old packages; one of them still builds with pkg_resources.
        local constraints="$CC_CACHE/constraints.txt"
        echo 'setuptools<70' > "$constraints"
        log "installing Odoo's requirements (a few minutes, once)"
        PIP_CONSTRAINT="$constraints" PIP_BUILD_CONSTRAINT="$constraints" "$venv/bin/pip" install -q -r "$ODOO_PATH/requirements.txt" >&2
    fi
    # The addon's after Odoo's: infobip's client wants urllib3 2, which Odoo 19 runs fine on.
    "$venv/bin/pip" install -q -r "$here/requirements.txt" -r "$here/requirements-dev.txt" >&2
    touch "$venv/.complete"
}

mkdir -p "$CC_CACHE"
install_debian_packages
venv="$CC_CACHE/venv-$(requirements_key)"
if [ ! -f "$venv/.complete" ]; then
    log "building virtualenv $venv"
    build_venv "$venv"
fi
echo "$venv"
