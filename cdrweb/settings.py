"""cdrweb settings: one module, driven by environment variables (see .env.example).

With nothing configured it runs on SQLite under var/ with django-q2's ORM broker.
DATABASE_URL switches to PostgreSQL, REDIS_URL to the Redis broker and cache.
"""

from __future__ import annotations

import sys
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
# Under pytest the test defaults apply even when CDRWEB_TESTING is not exported.
TESTING = env.bool("CDRWEB_TESTING", default=False) or "pytest" in sys.modules
if not TESTING:
    # Tests are hermetic: a developer's .env never changes what the suite sees (CI has none).
    environ.Env.read_env(BASE_DIR / ".env")  # real environment variables win

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env("SECRET_KEY", default="")
if not SECRET_KEY:
    if DEBUG or TESTING:
        SECRET_KEY = "insecure-development-key-not-for-production-use-only-locally"  # noqa: S105
    else:
        raise environ.ImproperlyConfigured(
            "SECRET_KEY is required when DEBUG is off (run `make .env` to generate one)."
        )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "django_tables2",
    "django_filters",
    "django_q",
    "axes",
    "cdrweb.apps.CdrwebConfig",
    "extraction.apps.ExtractionConfig",
    "billing.apps.BillingConfig",
    "reconciliation.apps.ReconciliationConfig",
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
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "cdrweb.urls"
WSGI_APPLICATION = "cdrweb.wsgi.application"

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
                "cdrweb.context_processors.cdrweb",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
SQLITE_URL = f"sqlite:///{VAR_DIR / 'cdrweb.sqlite3'}"
DATABASES = {"default": env.db("DATABASE_URL", default=SQLITE_URL)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (web + worker) share the file: wait for locks instead of failing,
    # and take the write lock at BEGIN so two writers never deadlock on an upgrade. In WAL mode
    # synchronous=NORMAL never corrupts the file; a power cut may lose the last commits, which the
    # work's own checkpoints (extraction cursors, import chunks) then redo.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 30, "transaction_mode": "IMMEDIATE",
         "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"}
    )
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and task queue ----------------------------------------------------------------
REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
elif TESTING:
    # one cache per test process: nothing shared between xdist workers or runs
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    # The web workers and the task worker are separate processes: a file cache under var/ lets
    # them share what the dashboard built (aggregates and leg ids, never names, numbers or
    # emails), sessions and permission sets, so a view is built once per data change instead of
    # once per worker.
    # The key prefix names the database, so two databases served from one checkout (the demo and
    # a benchmark, say) never read each other's entries. Past MAX_ENTRIES Django drops a third of
    # the entries at random (sessions fall back to the database, the rest is recomputed).
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                          "LOCATION": env("CACHE_DIR", default="") or str(VAR_DIR / "cache"),
                          "KEY_PREFIX": "{HOST}:{PORT}:{NAME}".format(**DATABASES["default"]),
                          "OPTIONS": {"MAX_ENTRIES": 10_000}}}

# timeout (seconds a task may run) stays below retry (seconds before an unacknowledged task is
# handed to another worker), otherwise a slow task would run twice at once (django-q2 docs).
Q_CLUSTER = {
    "name": "cdrweb",
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": 300,
    "retry": 360,
    "max_attempts": 3,
    "catch_up": False,
    "save_limit": 500,
    "ack_failures": True,
    "poll": 0.5,
    **({"redis": REDIS_URL} if REDIS_URL else {"orm": "default"}),
}
# Run background tasks inline (tests and `--wait` commands); read at call time by cdrweb.tasks.
CDRWEB_TASKS_INLINE = env.bool("CDRWEB_TASKS_INLINE", default=False)

# --- Auth -------------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # ModelBackend's answers, read from the shared cache (cdrweb/access.py)
    "cdrweb.access.CachedModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)

# sessions read from the cache, written through to the database (survive a cache flush)
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

# --- Production hardening (HTTPS) --------------------------------------------------------
SECURE_HTTPS = env.bool("SECURE_HTTPS", default=False)
SESSION_COOKIE_SECURE = SECURE_HTTPS
CSRF_COOKIE_SECURE = SECURE_HTTPS
SECURE_SSL_REDIRECT = SECURE_HTTPS
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if SECURE_HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HTTPS
SECURE_HSTS_PRELOAD = SECURE_HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_PROXY", default=False) else None
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# --- Secrets at rest --------------------------------------------------------------------
# Comma-separated Fernet keys: the first encrypts, all decrypt (rotation: prepend a new key,
# run `manage.py rotate_secrets`, then drop the old key).
# The development fallback is a real Fernet key (32 url-safe base64 bytes) so a fresh
# checkout with no .env works for DEBUG and tests; it is public and never used in production.
DEVELOPMENT_ENCRYPTION_KEY = "Y2Ryd2ViLWRldi1rZXktbmV2ZXItcHJvZHVjdGlvbiE="
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])
if not FIELD_ENCRYPTION_KEYS:
    if DEBUG or TESTING:
        FIELD_ENCRYPTION_KEYS = [DEVELOPMENT_ENCRYPTION_KEY]
    else:
        raise environ.ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS is required when DEBUG is off (run `make .env` to generate one)."
        )

# --- i18n, time ----------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Static files (whitenoise; plotly.js comes from the installed plotly wheel) ----------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not (DEBUG or TESTING)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "cdrweb.staticfinders.PlotlyFinder",
]
WHITENOISE_USE_FINDERS = DEBUG or TESTING
MEDIA_ROOT = VAR_DIR / "media"
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# --- Product settings ----------------------------------------------------------------------
# Default region for parsing national-format phone numbers (ISO 3166 alpha-2).
CDRWEB_DEFAULT_REGION = env("CDRWEB_DEFAULT_REGION", default="US")
# How long a PII reveal lasts for one page, in seconds.
CDRWEB_REVEAL_SECONDS = env.int("CDRWEB_REVEAL_SECONDS", default=600)
# Fallbacks when the platform's limits endpoint does not answer (genesys-cloud.md §4.4 [A]).
GENESYS_MAX_JOB_INTERVAL_DAYS = env.int("GENESYS_MAX_JOB_INTERVAL_DAYS", default=31)
GENESYS_PAGE_SIZE = env.int("GENESYS_PAGE_SIZE", default=100)
GENESYS_MAX_CONCURRENT_JOBS = env.int("GENESYS_MAX_CONCURRENT_JOBS", default=5)
GENESYS_MAX_ATTEMPTS = env.int("GENESYS_MAX_ATTEMPTS", default=6)  # tries per HTTP call (429/5xx)
GENESYS_BACKOFF_BASE = env.float("GENESYS_BACKOFF_BASE", default=0.5)  # seconds, doubled per retry
HTTP_TIMEOUT_SECONDS = env.float("HTTP_TIMEOUT_SECONDS", default=30.0)
# Port of the local Genesys sandbox the demo connection points at (`make run` starts it).
CDRWEB_SANDBOX_PORT = env.int("CDRWEB_SANDBOX_PORT", default=8765)
SQL_CONSOLE_TIMEOUT_MS = env.int("SQL_CONSOLE_TIMEOUT_MS", default=5000)
SQL_CONSOLE_MAX_ROWS = env.int("SQL_CONSOLE_MAX_ROWS", default=10000)

# --- Logging: console, every record passed through the PII masking filter -------------------
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"mask_pii": {"()": "cdrweb.logging.MaskPiiFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s [%(name)s] %(levelname)s: %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["mask_pii"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
    },
}
