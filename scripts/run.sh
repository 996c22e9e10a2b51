#!/usr/bin/env bash
# Run the product: the provider simulator and Odoo with contact_centre and its demo data, on localhost.
#   scripts/run.sh               # http://localhost:8069 (admin / admin), simulator on 127.0.0.1:8899
#   scripts/run.sh --production  # as deployed: nginx ending TLS on https://127.0.0.1:8069 in front of
#                                # Odoo --workers 2 --max-cron-threads 1 --proxy-mode and its gevent worker
#   scripts/run.sh --two-hosts   # the same with two Odoo hosts (their own workers and crons) on the database
# The database ($CC_DB, default contact_centre_demo) is created with demo data on first run.
# The production modes are deploy/stack.py (README, "Deploying"); its certificate is self-signed.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
ODOO_PATH=${ODOO_PATH:-/opt/odoo}
CC_CACHE=${CC_CACHE:-$HOME/.cache/contact_centre}
CC_DB=${CC_DB:-contact_centre_demo}
HTTP_PORT=${HTTP_PORT:-8069}
SIM_PORT=${SIM_PORT:-8899}
hosts=0  # 0: one threaded Odoo process, no proxy
case "${1:-}" in
    "") ;;
    --production) hosts=1 ;;
    --two-hosts) hosts=2 ;;
    *) echo "usage: $0 [--production | --two-hosts]" >&2; exit 2 ;;
esac

if ! [ -f "$ODOO_PATH/odoo-bin" ]; then
    echo "Odoo 19.0 is not at ODOO_PATH=$ODOO_PATH: see README, 'Getting Odoo'." >&2
    exit 1
fi
venv=$(bash "$here/scripts/bootstrap.sh" | tail -n 1)
py="$venv/bin/python"
addons_dir="$CC_CACHE/addons-run"
mkdir -p "$addons_dir" && ln -sfn "$here" "$addons_dir/contact_centre"
addons_path="$ODOO_PATH/addons,$ODOO_PATH/odoo/addons,$addons_dir"
odoo=("$py" "$ODOO_PATH/odoo-bin" -d "$CC_DB" --db-filter "^$CC_DB\$" --addons-path="$addons_path"
      --http-interface 127.0.0.1 --http-port "$HTTP_PORT")
if [ "$hosts" = 0 ]; then
    public_url="http://localhost:$HTTP_PORT"
    (cd "$here" && exec "$py" -m tools.simulator --host 127.0.0.1 --port "$SIM_PORT" \
        --meta-webhook-url "http://127.0.0.1:$HTTP_PORT/contact_centre/webhook/whatsapp" \
        --meta-app-secret demo-app-secret) &
    sim_pid=$!
    trap 'kill $sim_pid 2>/dev/null' EXIT
else
    public_url="https://127.0.0.1:$HTTP_PORT"
fi

if ! psql -lqt | cut -d '|' -f 1 | grep -qw "$CC_DB"; then
    echo "Creating database $CC_DB with demo data (about a minute, once)..."
    "${odoo[@]}" -i contact_centre --with-demo --stop-after-init
else
    echo "Updating contact_centre in $CC_DB to this checkout..."
    "${odoo[@]}" -u contact_centre --stop-after-init
fi
# The URL the providers are given (status callbacks, webhook URLs on the forms): this mode's.
psql -d "$CC_DB" -qc "UPDATE ir_config_parameter SET value = '$public_url' WHERE key = 'web.base.url'"
if [ "$hosts" = 0 ]; then
    echo "Contact Centre: $public_url (admin / admin); simulator: http://127.0.0.1:$SIM_PORT"
    "${odoo[@]}"
else
    # nginx, the Odoo host(s) and the simulator (which trusts the stack's certificate) until Ctrl-C.
    cd "$here" && exec "$py" -m deploy.stack --db "$CC_DB" --addons-path "$addons_path" --hosts "$hosts" \
        --port "$HTTP_PORT" --workdir "$CC_CACHE/production" --simulator-port "$SIM_PORT"
fi
