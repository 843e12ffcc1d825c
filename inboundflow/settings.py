"""Settings, read from the environment (django-environ), with embedded defaults.

With nothing configured the product runs on one machine with only Python: SQLite and
Kombu's filesystem broker under `.run/`. Production and the tests set `DATABASE_URL`
(PostgreSQL) and `CELERY_BROKER_URL` (Redis). `.env.example` lists every setting.
"""
from pathlib import Path

import environ

from webhooks.conf import from_environment as webhook_settings_from_environment

BASE_DIR = Path(__file__).resolve().parent.parent
RUN_DIR = BASE_DIR / ".run"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)
if DEBUG:
    SECRET_KEY = env("DJANGO_SECRET_KEY", default="dev-only-insecure-secret-key")
else:
    # Production refuses to start without its own key.
    SECRET_KEY = env("DJANGO_SECRET_KEY")

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

# Served over HTTPS (production; `manage.py check --deploy` then passes clean): secure cookies,
# HTTP redirected to HTTPS, HSTS. Behind a proxy that ends TLS, DJANGO_SECURE_PROXY_SSL_HEADER
# names the header it sets to "https" (X-Forwarded-Proto), or every request would redirect.
# /healthz, /readyz and /metrics answer before the redirect (webhooks/probes.py).
HTTPS = env.bool("DJANGO_HTTPS", default=False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=HTTPS)
SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=365 * 24 * 3600 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", default=HTTPS)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_HSTS_PRELOAD", default=HTTPS)
if _proxy_header := env.str("DJANGO_SECURE_PROXY_SSL_HEADER", default=""):
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _proxy_header.upper().replace("-", "_"), "https")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_api_key",  # hashing and generating API keys (our model: webhooks.ApiKey)
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served from the package: no CDN
    "inboundflow",
    "webhooks",
]

MIDDLEWARE = [
    "webhooks.probes.ProbeMiddleware",  # /healthz, /readyz, /metrics: before host checks and redirects
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "inboundflow.middleware.UserPreferencesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "inboundflow.urls"
WSGI_APPLICATION = "inboundflow.wsgi.application"

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
                "django.template.context_processors.i18n",
                "webhooks.alerts.banner",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # The embedded default: web, worker and beat share one file; wait for the lock
    # instead of failing when two of them write at once.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

AUTH_USER_MODEL = "inboundflow.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "webhooks:integration-list"
LOGOUT_REDIRECT_URL = "login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

# French first (our customers' documentation is French), English second. A person's language
# is their saved preference, else their language cookie, else Accept-Language; a client that
# says nothing (scripts, API clients) and the management commands get DJANGO_LANGUAGE_CODE.
LANGUAGE_CODE = env.str("DJANGO_LANGUAGE_CODE", default="en")
LANGUAGES = [("fr", "Français"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
if LANGUAGE_CODE not in dict(LANGUAGES):
    raise environ.ImproperlyConfigured(f"DJANGO_LANGUAGE_CODE must be one of {', '.join(dict(LANGUAGES))}.")
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

REST_FRAMEWORK = {
    # The first one names the scheme of 401 answers: `WWW-Authenticate: Api-Key realm="api"`.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "webhooks.api_keys.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.BasicAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["webhooks.api_errors.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "webhooks.api_errors.Pagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "webhooks.api_errors.handle_exception",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "InboundFlow Webhooks API",
    "DESCRIPTION": (
        "Integrations (Settings → Integrations) and their deliveries, REST Hooks for automation platforms "
        "(subscribe, check, unsubscribe) and the event catalog with sample bodies, for your organization. "
        "Authenticate with `Authorization: Api-Key <key>` (Settings → API keys)."
    ),
    "VERSION": "1.0.0",
    "ENUM_NAME_OVERRIDES": {
        "EventTypeEnum": "webhooks.events.EventType",
        "IntegrationStateEnum": "webhooks.models.Integration.State",
        "CallStateEnum": "inboundflow.models.Call.State",
        "SigningSecretEnum": "webhooks.rotation.WHICH_SECRET",
    },
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- E-mail (alerts when an integration fails, is disabled, works again) ------------------
# EMAIL_URL: smtp://user:password@host:587 (+tls), smtp+ssl://…:465; unset, e-mails are printed
# on the console of the process that sends them (the worker), as `make run` shows.
globals().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="InboundFlow <noreply@localhost>")
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)

# --- Celery -------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
CELERY_BROKER_VISIBILITY_TIMEOUT = env.int("CELERY_BROKER_VISIBILITY_TIMEOUT", default=3600)
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue_dir = str(RUN_DIR / "broker")
    for _folder in (RUN_DIR / "broker", RUN_DIR / "broker-control"):
        _folder.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": _queue_dir,
        "data_folder_out": _queue_dir,
        "control_folder": str(RUN_DIR / "broker-control"),
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_BROKER_VISIBILITY_TIMEOUT}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_PREFETCH_MULTIPLIER = env.int("CELERY_WORKER_PREFETCH_MULTIPLIER", default=4)
# Celery's Django fixup closes the database connection before and after every task unless told
# to reuse it: a new connection per delivery cost more than the delivery itself.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# A save must not hang on a broker that is down: publish once more, then give up and let
# the periodic sweep send the delivery (the row is already committed).
CELERY_BROKER_CONNECTION_TIMEOUT = env.float("CELERY_BROKER_CONNECTION_TIMEOUT", default=2.0)
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A worker whose broker went away retries for as long as it takes (Celery's default gives up
# after 100 tries and exits), every 2 s at most (inboundflow/celery.py).
CELERY_BROKER_CONNECTION_MAX_RETRIES = None

# --- Webhooks (defaults and meaning in webhooks/conf.py) ------------------------------
_webhooks = webhook_settings_from_environment(env)
globals().update(_webhooks)

CELERY_BEAT_SCHEDULE = {
    "webhooks-sweep": {"task": "webhooks.tasks.sweep", "schedule": _webhooks["WEBHOOKS_SWEEP_INTERVAL"]},
    "webhooks-prune": {"task": "webhooks.tasks.prune", "schedule": 3600.0},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        # urllib3 logs request paths at DEBUG; hook paths are credentials.
        "urllib3": {"level": "WARNING"},
        "webhooks": {
            "handlers": ["console"],
            "level": env("WEBHOOKS_LOG_LEVEL", default="INFO"),
            "propagate": False,
        },
    },
}
