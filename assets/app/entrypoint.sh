#!/bin/sh
# Entrypoint of berth's demo Django app.
#   serve (default)  gunicorn on 0.0.0.0:8000 (needs the Django secret key file)
#   migrate          waits for the database, then `manage.py migrate --noinput` (no secret key needed)
#   anything else    run as given, e.g. `python manage.py shell`
set -eu

secret_key_file="${DJANGO_SECRET_KEY_FILE:-/run/secrets/django_secret_key}"

case "${1:-serve}" in
  serve)
    if [ ! -s "$secret_key_file" ]; then
      echo "berth-app: no Django secret key: $secret_key_file is missing or empty." \
        "Mount it as a secret (or point DJANGO_SECRET_KEY_FILE at it); refusing to start." >&2
      exit 78
    fi
    if [ ! -r "$secret_key_file" ]; then
      echo "berth-app: the Django secret key $secret_key_file is not readable by uid $(id -u);" \
        "refusing to start." >&2
      exit 78
    fi
    exec gunicorn berthapp.wsgi:application \
      --bind 0.0.0.0:8000 \
      --workers "${GUNICORN_WORKERS:-2}" \
      --timeout "${GUNICORN_TIMEOUT:-30}" \
      --graceful-timeout "${GUNICORN_GRACEFUL_TIMEOUT:-20}" \
      --worker-tmp-dir /dev/shm \
      --access-logfile - \
      --error-logfile - \
      --forwarded-allow-ips "${GUNICORN_FORWARDED_ALLOW_IPS:-127.0.0.1}"
    ;;
  migrate)
    python manage.py wait_for_db --timeout "${DB_WAIT_TIMEOUT:-60}"
    exec python manage.py migrate --noinput
    ;;
  *)
    exec "$@"
    ;;
esac
