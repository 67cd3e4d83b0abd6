"""WSGI entry point (gunicorn berthapp.wsgi:application)."""
import os
import sys

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "berthapp.settings")

application = get_wsgi_application()

from django.conf import settings  # noqa: E402  (settings are configured by now)

if not settings.SECRET_KEY:
    # Refuse to serve without a real key (entrypoint.sh checks this too, with the same message).
    sys.stderr.write(
        f"berth-app: no Django secret key: {settings.SECRET_KEY_FILE} is missing or empty. "
        "Mount it as a secret (or point DJANGO_SECRET_KEY_FILE at it); refusing to start.\n"
    )
    sys.exit(78)
