"""WSGI entry point (gunicorn berthapp.wsgi:application)."""
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "berthapp.settings")

from django.core.exceptions import ImproperlyConfigured  # noqa: E402

from berthapp import settings as app_settings  # noqa: E402  (the module itself: django.conf would raise on an empty key)

if not app_settings.SECRET_KEY:
    # Refuse to serve without a real key (entrypoint.sh checks this too, with the same message).
    # An exception, not sys.exit(): gunicorn halts on a worker that fails to import its app
    # (exit code 3), but would restart forever a worker that exits with another code.
    message = (
        f"berth-app: no Django secret key: {app_settings.SECRET_KEY_FILE} is missing or empty. "
        "Mount it as a secret (or point DJANGO_SECRET_KEY_FILE at it); refusing to start."
    )
    sys.stderr.write(message + "\n")
    raise ImproperlyConfigured(message)

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
