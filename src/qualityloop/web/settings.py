"""Django settings. Everything a deployment changes comes from ``QUALITYLOOP_*`` variables."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import dj_database_url

from qualityloop.web.paths import data_home, secret_key
from qualityloop.web.server import production_secret_key

BASE_DIR = Path(__file__).resolve().parent
DATA_HOME = data_home()

# Production (`qualityloop serve --production`, or QUALITYLOOP_PRODUCTION=1 under another WSGI
# server): no debug, the secret key from the environment, hashed static files. README: Production.
PRODUCTION = os.environ.get("QUALITYLOOP_PRODUCTION", "0") == "1"
SECRET_KEY = production_secret_key() if PRODUCTION else secret_key(DATA_HOME)
DEBUG = not PRODUCTION and os.environ.get("QUALITYLOOP_DEBUG", "0") == "1"
ALLOWED_HOSTS = os.environ.get("QUALITYLOOP_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]").split(",")
CSRF_TRUSTED_ORIGINS = [
    origin for origin in os.environ.get("QUALITYLOOP_CSRF_TRUSTED_ORIGINS", "").split(",") if origin
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "simple_history",
    "ninja",
    "axes",
    "qualityloop.records.organisation",
    "qualityloop.records.accounts",
    "qualityloop.records.customers",
    "qualityloop.records.quality",
    "qualityloop.records.assessment",
    "qualityloop.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "axes.middleware.AxesMiddleware",  # turns a refused login into the 429 page
]

ROOT_URLCONF = "qualityloop.web.urls"
WSGI_APPLICATION = "qualityloop.web.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def _database() -> dict[str, Any]:
    url = os.environ.get("QUALITYLOOP_DATABASE_URL")
    if url:
        return dict(dj_database_url.parse(url, conn_max_age=60))
    return {
        # Django's SQLite backend with write transactions queued in line (web/sqlite/).
        "ENGINE": "qualityloop.web.sqlite",
        "NAME": DATA_HOME / "qualityloop.sqlite3",
        # Each server thread keeps its connection for 10 minutes: opening one (Django registers
        # its SQL functions, the pragmas run) cost 1-2 ms of CPU, a fifth of an API read.
        "CONN_MAX_AGE": 600,
        # WAL lets readers work while a writer commits; writers queue (up to the timeout).
        "OPTIONS": {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    }


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = os.environ.get("QUALITYLOOP_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_HOME / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise warns on every request when it is missing
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Production: hashed names (cached for a year) and gzip/brotli copies, made by collectstatic.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
                    if PRODUCTION else "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = not PRODUCTION

# Login rate limit (django-axes, web and admin login alike): after QUALITYLOOP_LOGIN_FAILURES
# failed attempts for one username from one IP address, further attempts are refused with HTTP
# 429 until QUALITYLOOP_LOGIN_LOCKOUT_MINUTES have passed since the last failure. Attempts are
# kept in the database (shared by every server worker) and listed in the admin; each failure is
# logged as a warning by the "axes" logger. docs/security.md.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("QUALITYLOOP_LOGIN_FAILURES", "5"))
AXES_COOLOFF_TIME = dt.timedelta(
    minutes=float(os.environ.get("QUALITYLOOP_LOGIN_LOCKOUT_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "qualityloop.web.views.lockout.client_address"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "qualityloop.web.views.lockout.locked_out"
AXES_VERBOSE = False  # axes' own start-up banner; the failures are still logged
AXES_SENSITIVE_PARAMETERS: list[str] = []  # log who tried from where; passwords stay masked

# Signature attempt limit (21 CFR Part 11, 11.300(d)): after QUALITYLOOP_SIGNATURE_FAILURES wrong
# passwords in a row given to sign (closing an NC, approving or rejecting a change), each within
# QUALITYLOOP_SIGNATURE_LOCKOUT_MINUTES of the one before, that user's signatures are refused
# (HTTP 429) for that long after the last failure, even with the right password. The count is kept
# in the database; every refusal is in the audit log. services/signatures.py, docs/security.md.
SIGNATURE_FAILURE_LIMIT = int(os.environ.get("QUALITYLOOP_SIGNATURE_FAILURES", "5"))
SIGNATURE_COOLOFF_TIME = dt.timedelta(
    minutes=float(os.environ.get("QUALITYLOOP_SIGNATURE_LOCKOUT_MINUTES", "15")))

# Uploads (docs/security.md): files over QUALITYLOOP_MAX_UPLOAD_MB are refused by
# web/uploads.py; above 2.5 MB an upload goes to a temporary file, not memory. A form without
# files is small, so its body is kept to Django's 2.5 MB.
MAX_UPLOAD_BYTES = int(float(os.environ.get("QUALITYLOOP_MAX_UPLOAD_MB", "50")) * 1024 * 1024)
FILE_UPLOAD_HANDLERS = [
    "qualityloop.web.uploads.SizeLimitHandler",  # drops a file once it passes the limit
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"
# A login lasts QUALITYLOOP_SESSION_HOURS (a working day) from when it was made; with
# QUALITYLOOP_SESSION_BROWSER=1 it also ends when the browser closes.
SESSION_COOKIE_AGE = int(float(os.environ.get("QUALITYLOOP_SESSION_HOURS", "8")) * 3600)
SESSION_EXPIRE_AT_BROWSER_CLOSE = os.environ.get("QUALITYLOOP_SESSION_BROWSER", "0") == "1"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True  # HTMX sends the token from the page (base.html), no script reads it
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

# QUALITYLOOP_HTTPS=1: served over HTTPS by a proxy in front (nginx, a load balancer) that
# terminates TLS and sets X-Forwarded-Proto. Secure cookies, HTTP redirected to HTTPS (but the
# health check, which the proxy calls over HTTP), HSTS for QUALITYLOOP_HSTS_SECONDS (a year).
if os.environ.get("QUALITYLOOP_HTTPS", "0") == "1":
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("QUALITYLOOP_HSTS_SECONDS", str(365 * 86_400)))
    # Both are opt-in: they bind every subdomain, and a preload list entry takes months to undo.
    SECURE_HSTS_INCLUDE_SUBDOMAINS = os.environ.get("QUALITYLOOP_HSTS_SUBDOMAINS", "0") == "1"
    SECURE_HSTS_PRELOAD = os.environ.get("QUALITYLOOP_HSTS_PRELOAD", "0") == "1"
    # The deploy check warns about either left off; that is this deliberate choice.
    SILENCED_SYSTEM_CHECKS = [
        *([] if SECURE_HSTS_INCLUDE_SUBDOMAINS else ["security.W005"]),
        *([] if SECURE_HSTS_PRELOAD else ["security.W021"]),
    ]

# Complaint handling service levels (ISO 10002), in calendar days from receipt: see
# services/complaints.py. Defaults: acknowledge within 2 days, resolve within 30.
COMPLAINT_ACKNOWLEDGE_DAYS = int(os.environ.get("QUALITYLOOP_COMPLAINT_ACKNOWLEDGE_DAYS", "2"))
COMPLAINT_RESOLVE_DAYS = int(os.environ.get("QUALITYLOOP_COMPLAINT_RESOLVE_DAYS", "30"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("QUALITYLOOP_LOG_LEVEL", "WARNING")},
}

# Background jobs (relationship fits, reports, big imports): QUALITYLOOP_JOBS=thread (default: a
# thread of the web process) or queue (`qualityloop worker` processes). docs/background-jobs.md
from qualityloop.records.jobs.config import INSTALLED_JOB_APPS, tasks_setting  # noqa: E402

INSTALLED_APPS += INSTALLED_JOB_APPS
TASKS = tasks_setting()
