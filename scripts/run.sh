#!/usr/bin/env bash
# Run the product: the provider simulator and Odoo with contact_centre and its demo data, on localhost.
#   scripts/run.sh            # http://localhost:8069 (admin / admin), simulator on 127.0.0.1:8899
# The database ($CC_DB, default contact_centre_demo) is created with demo data on first run.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
ODOO_PATH=${ODOO_PATH:-/opt/odoo}
CC_CACHE=${CC_CACHE:-$HOME/.cache/contact_centre}
CC_DB=${CC_DB:-contact_centre_demo}
HTTP_PORT=${HTTP_PORT:-8069}
SIM_PORT=${SIM_PORT:-8899}

if ! [ -f "$ODOO_PATH/odoo-bin" ]; then
    echo "Odoo 19.0 is not at ODOO_PATH=$ODOO_PATH: see README, 'Getting Odoo'." >&2
    exit 1
fi
venv=$(bash "$here/scripts/bootstrap.sh" | tail -n 1)
py="$venv/bin/python"
addons_dir="$CC_CACHE/addons-run"
mkdir -p "$addons_dir" && ln -sfn "$here" "$addons_dir/contact_centre"
odoo=("$py" "$ODOO_PATH/odoo-bin" -d "$CC_DB" --db-filter "^$CC_DB\$"
      --addons-path="$ODOO_PATH/addons,$ODOO_PATH/odoo/addons,$addons_dir"
      --http-interface 127.0.0.1 --http-port "$HTTP_PORT")

(cd "$here" && exec "$py" -m tools.simulator --host 127.0.0.1 --port "$SIM_PORT" \
    --meta-webhook-url "http://127.0.0.1:$HTTP_PORT/contact_centre/webhook/whatsapp" \
    --meta-app-secret demo-app-secret) &
sim_pid=$!
trap 'kill $sim_pid 2>/dev/null' EXIT

if ! psql -lqt | cut -d '|' -f 1 | grep -qw "$CC_DB"; then
    echo "Creating database $CC_DB with demo data (about a minute, once)..."
    "${odoo[@]}" -i contact_centre --with-demo --stop-after-init
else
    echo "Updating contact_centre in $CC_DB to this checkout..."
    "${odoo[@]}" -u contact_centre --stop-after-init
fi
echo "Contact Centre: http://localhost:$HTTP_PORT (admin / admin); simulator: http://127.0.0.1:$SIM_PORT"
"${odoo[@]}"
