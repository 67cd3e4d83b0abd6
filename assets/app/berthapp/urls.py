from django.conf import settings
from django.urls import path, re_path
from django.views.static import serve

from counter import views

urlpatterns = [
    path("", views.index, name="index"),
    path("writes/count", views.writes_count, name="writes-count"),
    path("writes/<int:n>", views.write, name="write"),
    # /healthz is answered by counter.middleware.HealthzMiddleware, before any URL routing.
    # Static files collected at build time, served without DEBUG too (Django's `static()` helper
    # would add this route only with DEBUG on). Nginx in front may serve /app/static itself.
    re_path(r"^static/(?P<path>.*)$", serve, {"document_root": settings.STATIC_ROOT}),
]
