"""Settings of the berth demo app: all from environment variables and secret files.

Secrets are read from files only (Docker/Compose secrets under /run/secrets/),
never from the image or plain environment variables:
  DJANGO_SECRET_KEY_FILE  default /run/secrets/django_secret_key
  DB_PASSWORD_FILE        default /run/secrets/db_password
Everything else is a plain environment variable; see README.md.
"""
import os
import socket
from pathlib import Path

import pymysql
from django.core.exceptions import ImproperlyConfigured

# PyMySQL is pure Python (no compiler, unlike mysqlclient); Django's MySQL backend uses it as MySQLdb.
pymysql.install_as_MySQLdb()

BASE_DIR = Path(__file__).resolve().parent.parent


def env_list(name, default=""):
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def read_secret(file_variable, default_path):
    """The content of a secret file (trailing newline stripped), or '' when it does not exist."""
    path = os.environ.get(file_variable) or default_path
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().rstrip("\r\n")
    except FileNotFoundError:
        return ""
    except PermissionError:
        raise ImproperlyConfigured(
            f"{path} ({file_variable}) exists but uid {os.getuid()} cannot read it: "
            "make the secret file readable by the app's user"
        ) from None


SECRET_KEY_FILE = os.environ.get("DJANGO_SECRET_KEY_FILE") or "/run/secrets/django_secret_key"
# Empty when the file is missing: Django validates SECRET_KEY only when something uses it, so
# collectstatic, check and migrate run without it; serving refuses to start (berthapp/wsgi.py).
SECRET_KEY = read_secret("DJANGO_SECRET_KEY_FILE", SECRET_KEY_FILE)

DEBUG = env_bool("DJANGO_DEBUG", False)
# Local names are always allowed: the image's HEALTHCHECK and `docker exec` probes use them.
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS") + ["127.0.0.1", "localhost", "[::1]"]
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

APP_VERSION = os.environ.get("APP_VERSION") or "dev"
SERVED_BY = socket.gethostname()

INSTALLED_APPS = [
    "django.contrib.staticfiles",
    "counter",
]

MIDDLEWARE = [
    # First: answers /healthz before host validation, so probes work whatever their Host header.
    "counter.middleware.HealthzMiddleware",
    "counter.middleware.ServedByMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "berthapp.urls"
WSGI_APPLICATION = "berthapp.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.mysql",
        "HOST": os.environ.get("DB_HOST", "db"),
        "PORT": os.environ.get("DB_PORT", "3306"),
        "NAME": os.environ.get("DB_NAME", "app"),
        "USER": os.environ.get("DB_USER", "app"),
        "PASSWORD": read_secret("DB_PASSWORD_FILE", "/run/secrets/db_password"),
        # 0: a connection per request, so a database failover never leaves stale connections behind.
        "CONN_MAX_AGE": int(os.environ.get("DB_CONN_MAX_AGE", "0")),
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": {
            "charset": "utf8mb4",
            "connect_timeout": int(os.environ.get("DB_CONNECT_TIMEOUT", "3")),
            "read_timeout": int(os.environ.get("DB_READ_TIMEOUT", "10")),
            "write_timeout": int(os.environ.get("DB_WRITE_TIMEOUT", "10")),
            # Django's default for MySQL/MariaDB, stated because the counter relies on it.
            "isolation_level": "read committed",
        },
    }
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# Collected at build time (`collectstatic`) into /app/static and served by the app itself under
# /static/ (berthapp/urls.py); an Nginx in front may serve the same directory instead.
STATIC_URL = "/static/"
STATIC_ROOT = os.environ.get("DJANGO_STATIC_ROOT") or str(BASE_DIR / "static")

SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
}
