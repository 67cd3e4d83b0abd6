import json
import logging

from django.conf import settings
from django.db import connection
from django.http import HttpResponse

log = logging.getLogger(__name__)


def _json(status, payload):
    return HttpResponse(json.dumps(payload), status=status, content_type="application/json")


class HealthzMiddleware:
    """GET /healthz: 200 when the database answers `SELECT 1`, 503 otherwise.

    Runs before host validation, CSRF and URL routing: no auth, no session, no write,
    and any Host header (a load balancer's or Docker's probe) gets an answer.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info != "/healthz":
            return self.get_response(request)
        payload = {"status": "ok", "db": "ok", "served_by": settings.SERVED_BY, "version": settings.APP_VERSION}
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchone()
        except Exception as error:  # any failure to reach the database is "unhealthy"
            log.warning("healthz: database check failed: %s: %s", type(error).__name__, error)
            connection.close()  # the next check starts from a fresh connection
            payload.update(status="fail", db=f"error: {type(error).__name__}")
            response = _json(503, payload)
        else:
            response = _json(200, payload)
        response["Cache-Control"] = "no-store"
        response["X-Served-By"] = settings.SERVED_BY
        response["X-App-Version"] = settings.APP_VERSION
        return response


class ServedByMiddleware:
    """X-Served-By (the container's hostname) and X-App-Version on every response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response["X-Served-By"] = settings.SERVED_BY
        response["X-App-Version"] = settings.APP_VERSION
        return response
