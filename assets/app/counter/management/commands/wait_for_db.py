import time

from django.core.management.base import BaseCommand, CommandError
from django.db import connection


class Command(BaseCommand):
    help = "Waits until the database answers SELECT 1 (entrypoint.sh runs it before migrating)."

    def add_arguments(self, parser):
        parser.add_argument("--timeout", type=int, default=60, help="seconds to wait (default 60)")

    def handle(self, *args, timeout, **options):
        deadline = time.monotonic() + timeout
        while True:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT 1")
                return
            except Exception as error:
                connection.close()
                if time.monotonic() >= deadline:
                    raise CommandError(f"the database did not answer within {timeout} s: {error}")
                self.stderr.write(f"waiting for the database: {type(error).__name__}: {error}")
                time.sleep(2)
