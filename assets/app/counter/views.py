import json
import logging

from django.conf import settings
from django.db import DatabaseError, IntegrityError, OperationalError, transaction
from django.db.models import F
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from .models import Counter, NumberedWrite

log = logging.getLogger(__name__)

# MariaDB's "Deadlock found" (1213) is also how Galera reports a certification conflict.
DEADLOCK = 1213


def _json(status, payload):
    return HttpResponse(json.dumps(payload) + "\n", status=status, content_type="application/json")


def _unavailable(error):
    log.warning("database unavailable: %s: %s", type(error).__name__, error)
    return _json(503, {"status": "fail", "db": f"error: {type(error).__name__}", "served_by": settings.SERVED_BY})


def count_visit(attempts=3):
    """Adds one to the "visits" counter and returns the new value, in one transaction."""
    for attempt in range(1, attempts + 1):
        try:
            with transaction.atomic():
                updated = Counter.objects.filter(name="visits").update(value=F("value") + 1)
                if not updated:  # the migration creates the row; this covers a deleted one
                    Counter.objects.get_or_create(name="visits", defaults={"value": 1})
                # Our UPDATE holds the row lock until commit, so this reads our own increment.
                return Counter.objects.values_list("value", flat=True).get(name="visits")
        except OperationalError as error:
            if attempt == attempts or not error.args or error.args[0] != DEADLOCK:
                raise
    raise AssertionError("unreachable")


@never_cache
@require_http_methods(["GET", "HEAD"])
def index(request):
    try:
        visits = count_visit()
    except DatabaseError as error:
        return _unavailable(error)
    response = render(
        request,
        "counter/index.html",
        {"served_by": settings.SERVED_BY, "visits": visits, "version": settings.APP_VERSION},
    )
    response["X-Visits"] = str(visits)
    return response


@csrf_exempt
@never_cache
@require_http_methods(["GET", "POST"])
def write(request, n):
    """POST /writes/<n>: store n once (201 created, 200 already there). GET: 200 if stored, else 404."""
    try:
        if request.method == "GET":
            found = NumberedWrite.objects.filter(n=n).exists()
            return _json(200 if found else 404, {"n": n, "stored": found})
        try:
            with transaction.atomic():
                _, created = NumberedWrite.objects.get_or_create(n=n)
        except IntegrityError:  # a concurrent POST of the same n won the insert
            created = False
        return _json(201 if created else 200, {"n": n, "created": created})
    except DatabaseError as error:
        return _unavailable(error)


@never_cache
@require_http_methods(["GET"])
def writes_count(request):
    """GET /writes/count: how many distinct numbers are stored."""
    try:
        return _json(200, {"count": NumberedWrite.objects.count()})
    except DatabaseError as error:
        return _unavailable(error)
