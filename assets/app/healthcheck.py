"""The image's HEALTHCHECK: exit 0 when /healthz answers 200 (python:3.13-slim has no curl)."""
import sys
import urllib.request

try:
    with urllib.request.urlopen("http://127.0.0.1:8000/healthz", timeout=4) as response:
        sys.exit(0 if response.status == 200 else 1)
except Exception as error:  # HTTPError (503), refused connection, timeout
    print(f"healthz: {error}", file=sys.stderr)
    sys.exit(1)
