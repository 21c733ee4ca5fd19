from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import path

from qualityloop.web.api.api import api


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
]
