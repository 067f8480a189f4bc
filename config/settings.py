"""Concord settings: everything comes from the environment (12-factor).

With nothing set, Concord runs on embedded defaults: an SQLite file and a
filesystem message broker under var/, so one command starts it on a fresh
machine. DATABASE_URL and REDIS_URL switch to PostgreSQL and Redis.
"""

from pathlib import Path

from config.env import (
    env_bool,
    env_database,
    env_int,
    env_list,
    env_rate,
    env_redis_url,
    env_secret_key,
    env_str,
)
from config.storage import storages_from_env

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("CONCORD_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)
# No start without a real key outside development: SECRET_KEY or SECRET_KEY_FILE, else
# (DEBUG=1 or CONCORD_DEV=1, as ./run demo and ./run test set) a random key generated once
# under var/. CONCORD_REQUIRE_SECRET_KEY=1 forbids the generated key even then.
SECRET_KEY = env_secret_key(
    var_dir=VAR_DIR,
    development=(DEBUG or env_bool("CONCORD_DEV", False))
    and not env_bool("CONCORD_REQUIRE_SECRET_KEY", False),
)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# Served over HTTPS (CONCORD_HTTPS=1): redirect http, secure cookies and HSTS, so that
# `manage.py check --deploy` is clean; off by default so the demo works on http://127.0.0.1.
HTTPS = env_bool("CONCORD_HTTPS", False)
SECURE_SSL_REDIRECT = HTTPS
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # health checks probe the app over plain http
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env_int("CONCORD_HSTS_SECONDS", 365 * 24 * 3600 if HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS and env_bool("CONCORD_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = HTTPS and env_bool("CONCORD_HSTS_PRELOAD", True)
if env_bool("CONCORD_BEHIND_TLS_PROXY", False):
    # Only behind a proxy that terminates TLS and sets this header itself.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
# Database sessions that carry their user: one query reads both (annotate.sessions).
SESSION_ENGINE = "annotate.sessions"
# Content-Security-Policy (annotate.middleware): our own scripts only, never inline ones.
# No inline style attributes either; <style> elements may be inline: wavesurfer draws
# its waveform in a shadow DOM with one (tests/e2e/test_csp.py finds no violation).
CONCORD_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "style-src-elem 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; "
    "font-src 'self' data:; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
# Swagger UI's page (drf-spectacular) starts itself with an inline script: its page only.
CONCORD_CSP_PAGES = {
    "/api/docs/": CONCORD_CSP.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'"),
}

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "annotate",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "annotate.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # A database that is down answers 503 + Retry-After (annotate.middleware_db).
    "annotate.middleware_db.DatabaseUnavailableMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    # Django's, with the user read in the session's query (annotate.sessions).
    "annotate.sessions.SessionUserMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "frontend" / "templates"],
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

DATABASES = {
    "default": env_database("DATABASE_URL", f"sqlite:///{VAR_DIR / 'concord.sqlite3'}"),
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Sign-in refuses a username from an address for a while after repeated failures, on
# every path (login page, admin, API token): annotate.auth.LockoutModelBackend.
AUTHENTICATION_BACKENDS = ["annotate.auth.LockoutModelBackend"]
CONCORD_LOGIN_MAX_FAILURES = env_int("CONCORD_LOGIN_MAX_FAILURES", 5, minimum=1)
CONCORD_LOGIN_LOCKOUT_SECONDS = env_int("CONCORD_LOGIN_LOCKOUT_SECONDS", 300, minimum=1)
# Rates of the throttled API endpoints ("N/s|min|hour|day"; empty: not throttled).
CONCORD_TOKEN_RATE = env_rate("CONCORD_TOKEN_RATE", "20/min")  # per address
CONCORD_RATING_RATE = env_rate("CONCORD_RATING_RATE", "120/min")  # per rater, beyond a human
# Counters of sign-in failures and throttles. Per process: with N web workers an address
# gets up to N times the limits, still far below what brute force needs.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [
    BASE_DIR / "frontend" / "static",
    ("vendor/wavesurfer", BASE_DIR / "frontend" / "node_modules" / "wavesurfer.js" / "dist"),
    ("vendor/chartjs", BASE_DIR / "frontend" / "node_modules" / "chart.js" / "dist"),
]
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "/media/"
# Clip audio: S3-compatible storage when CONCORD_S3_BUCKET is set (django-storages), else
# files under MEDIA_ROOT (config.storage). Model bundles stay under MEDIA_ROOT either way.
STORAGES = storages_from_env()  # reads "CONCORD_S3_BUCKET", "AWS_S3_ENDPOINT_URL", ...
# Audio is served by Django only to the rater who holds the lease; this caps uploads.
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "annotate.auth.ProfileTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "annotate.api.pagination.Pagination",
    "PAGE_SIZE": 100,
    # drf-spectacular, plus the error responses each view can answer (annotate.api.schema).
    "DEFAULT_SCHEMA_CLASS": "annotate.api.schema.ConcordAutoSchema",
    "EXCEPTION_HANDLER": "annotate.api.errors.exception_handler",
    # Bounded parsers: body size, JSON depth, digits, non-finite numbers, surrogates.
    "DEFAULT_PARSER_CLASSES": [
        "annotate.api.parsers.SafeJSONParser",
        "annotate.api.parsers.SafeFormParser",
        "annotate.api.parsers.SafeMultiPartParser",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Concord API",
    "DESCRIPTION": "Speech emotion labelling with as few human ratings as possible.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and Redoc from drf-spectacular-sidecar's static files, not a CDN, so
    # /api/docs/ works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Celery: Redis when REDIS_URL is set, else a filesystem broker that needs no server.
REDIS_URL = env_redis_url("REDIS_URL")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {"visibility_timeout": 3600}
else:
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_ROUTES = {"annotate.tasks.learner_*": {"queue": "learner"}}
CELERY_TASK_TIME_LIMIT = env_int("CONCORD_TASK_TIME_LIMIT", 30 * 60, minimum=1)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A worker process keeps its database connection across tasks (Celery's Django fixup
# otherwise closes it around every task, so each task opened one and lost its prepared
# statements); config.celery closes one that failed or outlived CONN_MAX_AGE before and
# after each task, as Django does around each request.
CELERY_DB_REUSE_MAX = 1000
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A request that enqueues work must not hang on a broker that is down: fail fast; the
# database keeps the truth and periodic tasks catch up.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
CELERY_BEAT_SCHEDULE = {
    "expire-leases": {"task": "annotate.tasks.assignments_expire_task", "schedule": 30.0},
    "reap-training-runs": {"task": "annotate.tasks.training_runs_reap_task", "schedule": 60.0},
    # Redoes what follows ratings in every project (annotate.services.catch_up): work
    # whose message a broker outage lost waits at most this long.
    "refresh-reliability": {
        "task": "annotate.tasks.rater_reliability_refresh_task",
        "schedule": float(env_int("CONCORD_CATCH_UP_SECONDS", 300, minimum=1)),
    },
    "snapshot-projects": {"task": "annotate.tasks.project_snapshots_task", "schedule": 300.0},
    "clear-expired-sessions": {
        "task": "annotate.tasks.sessions_clear_expired_task",
        "schedule": 3600.0,
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# Concord's own settings.
# What follows ratings (annotate.services.catch_up) starts at most once per this many
# seconds per project: a burst of ratings shares one deferred pass (0: every time).
CONCORD_AFTER_RATINGS_SECONDS = env_int("CONCORD_AFTER_RATINGS_SECONDS", 5, minimum=0)
CONCORD_MAX_CLIP_SECONDS = env_int("CONCORD_MAX_CLIP_SECONDS", 600, minimum=1)
CONCORD_MAX_UPLOAD_BYTES = env_int("CONCORD_MAX_UPLOAD_BYTES", 200 * 1024 * 1024, minimum=1)
# Hostile input (annotate.api.parsers, annotate.api.uploads, annotate.audio): a whole
# upload request and its number of files, one file's decoding time, a JSON or form body.
CONCORD_MAX_UPLOAD_REQUEST_BYTES = env_int(
    "CONCORD_MAX_UPLOAD_REQUEST_BYTES", 512 * 1024 * 1024, minimum=1
)
CONCORD_MAX_UPLOAD_FILES = env_int("CONCORD_MAX_UPLOAD_FILES", 100, minimum=1)
DATA_UPLOAD_MAX_NUMBER_FILES = CONCORD_MAX_UPLOAD_FILES
CONCORD_MAX_DECODE_SECONDS = env_int("CONCORD_MAX_DECODE_SECONDS", 120, minimum=1)
# An upload request's decoding, below gunicorn's 30 s timeout: a killed worker would
# leave its batch half-stored with no report of what went in.
CONCORD_MAX_UPLOAD_SECONDS = env_int("CONCORD_MAX_UPLOAD_SECONDS", 20, minimum=1)
CONCORD_MAX_BODY_BYTES = env_int("CONCORD_MAX_BODY_BYTES", 1024 * 1024, minimum=1)
# A running training run beats its heartbeat every CONCORD_RUN_HEARTBEAT_SECONDS; one
# whose heartbeat is older than CONCORD_RUN_STALE_SECONDS lost its worker: it is taken
# over by a redelivered task, failed by the reaper (every minute) or by a retrain request.
CONCORD_RUN_HEARTBEAT_SECONDS = env_int("CONCORD_RUN_HEARTBEAT_SECONDS", 10, minimum=1)
CONCORD_RUN_STALE_SECONDS = env_int("CONCORD_RUN_STALE_SECONDS", 60, minimum=1)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
