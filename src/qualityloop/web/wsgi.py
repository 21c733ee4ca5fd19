"""WSGI entry point for production servers (``gunicorn qualityloop.web.wsgi``)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qualityloop.web.settings")
application = get_wsgi_application()
