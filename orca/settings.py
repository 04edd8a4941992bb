"""Orca settings, read from the environment (django-environ).

With nothing set, Orca runs embedded on one machine: a SQLite file, a local-memory cache,
in-process limits and a filesystem Celery broker shared by local processes. Setting
DATABASE_URL and REDIS_URL moves it onto PostgreSQL and Redis.
"""

import ipaddress
import logging
import secrets
from decimal import Decimal, InvalidOperation
from pathlib import Path
from urllib.parse import urlsplit

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("ORCA_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env")


def _local_secret(name: str) -> str:
    """A per-checkout random secret kept in var/, so the embedded default needs no set-up."""
    path = VAR_DIR / name
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="") or _local_secret("secret_key")
if env.bool("PRODUCTION", default=False) and not env.str("SECRET_KEY", default=""):
    raise environ.ImproperlyConfigured("PRODUCTION=1 needs SECRET_KEY from the environment")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served from STATIC_URL (no CDN)
    "channels",
    "workspaces",
    "routing",
    "billing",
    "guardrails",
    "prompts",
]

MIDDLEWARE = [
    "orca.middleware.reject_unservable_urls",  # 400 for NUL, control bytes, bad UTF-8 in a URL
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "orca.middleware.AnswerDatabaseOutages",  # 503, not 500, while PostgreSQL is out of reach
]

ROOT_URLCONF = "orca.urls"
ASGI_APPLICATION = "orca.asgi.application"

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

# --- Database -------------------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'orca.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several local processes (gateway, worker, tests) share the file: WAL plus immediate
    # transactions keep writers from failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"init_command": "PRAGMA journal_mode=WAL;", "transaction_mode": "IMMEDIATE", "timeout": 20}
    )
    # Live-server tests need a file the server process can open too.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, channel layer, Celery broker ---------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or REDIS_URL or "filesystem://"
if CELERY_BROKER_URL == "filesystem://":
    _broker_dir = VAR_DIR / "celery-broker"
    _broker_dir.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        # kombu's exchange tables (default: ./control, at the repository root).
        "control_folder": str(VAR_DIR / "celery-control"),
    }
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULE: dict = {
    # Roll usage records up into hourly and daily buckets (idempotent; recomputes recent ones).
    "usage-rollups": {
        "task": "billing.tasks.roll_up_recent_usage",
        # `make run` sets 60 s, so a newcomer's charts fill within a minute.
        "schedule": env.float("ORCA_ROLLUP_SECONDS", default=300.0),
    },
    # Settle balance reservations whose settlement never reached Redis.
    "release-lost-holds": {"task": "billing.tasks.release_lost_holds", "schedule": 300.0},
    # Delete prompt/output text whose retention period is over.
    "purge-expired-exchanges": {
        "task": "billing.tasks.purge_expired_exchanges",
        "schedule": 3600.0,
    },
    # E-mail owners and admins of workspaces whose balance fell below their alert threshold.
    "low-balance-alerts": {"task": "billing.tasks.send_low_balance_alerts", "schedule": 60.0},
    # Delete prompts that have been in the registry's trash for more than 30 days.
    "purge-prompt-trash": {"task": "prompts.tasks.purge_prompt_trash", "schedule": 3600.0},
}

# --- Auth, i18n, static -----------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.str("STATIC_ROOT", default=str(VAR_DIR / "staticfiles"))

REST_FRAMEWORK = {
    # A management key first: its 401 challenge is what an unauthenticated call gets.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "workspaces.management_auth.ManagementKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PARSER_CLASSES": ["orca.api_parsers.JSONParser"],  # the API speaks JSON
}

# The management API's OpenAPI 3 schema (/api/schema/) and Swagger UI (/api/docs/).
SPECTACULAR_SETTINGS = {
    "TITLE": "Orca management API",
    "DESCRIPTION": (
        "Workspaces, members, API keys, management keys, routers, guardrails, prompts, usage "
        "and ledger. "
        "Authenticate with `Authorization: Bearer sk-orca-mgmt-…` (a management key) or the "
        "dashboard's session. Another workspace's slug or ids answer 404."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Tags and operation ids from what follows /api/workspaces/{workspace}/ (keys, usage…).
    "SCHEMA_PATH_PREFIX": r"/api/(workspaces/(\{workspace\}/)?)?",
    "COMPONENT_SPLIT_REQUEST": True,
    # Two choice sets share the field name `role`: members' roles and a prompt message's.
    "ENUM_NAME_OVERRIDES": {
        "MemberRoleEnum": "workspaces.models.Role",
        "MessageRoleEnum": ["system", "user", "assistant"],
    },
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "PREPROCESSING_HOOKS": ["orca.api_schema.management_api_only"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "orca.api_schema.add_error_responses",
    ],
}

# --- Production hardening (manage.py check --deploy) ----------------------------------
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
# PRODUCTION=1 turns on the HTTPS-only defaults `manage.py check --deploy` asks for.
PRODUCTION = env.bool("PRODUCTION", default=False)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=PRODUCTION)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if PRODUCTION else 0)
# What check --deploy asks for; turn off (env) if subdomains are not all HTTPS.
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=PRODUCTION)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=PRODUCTION)
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_TLS_PROXY", default=False) else None
)

# --- Logging: one line per event, never a request body or a secret ----------------------
from orca import logs as _logs  # noqa: E402  (after .env is read: it reads ORCA_LOG_FORMAT)

# plain (default) or json: one JSON object per line, with the request id (orca/logs.py).
ORCA_LOG_FORMAT = _logs.FORMAT
if ORCA_LOG_FORMAT not in _logs.FORMATS:
    raise environ.ImproperlyConfigured(
        f"ORCA_LOG_FORMAT must be one of {', '.join(_logs.FORMATS)}, not {ORCA_LOG_FORMAT!r}"
    )
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "orca.logs.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": ORCA_LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # uvicorn's loggers keep their own handlers (so --no-access-log stays off): in
        # JSON mode orca/asgi.py gives those handlers the JSON format.
    },
}
# Python warnings (a library's deprecation, Django's note on a sync iterator) go through the
# log handler too, so with JSON logs every line of stderr is still one JSON object.
logging.captureWarnings(True)

# --- Orca gateway -------------------------------------------------------------------------
# Key hashes are HMAC-SHA256 under this secret; changing it invalidates every API key.
ORCA_KEY_HASH_SECRET = env.str("ORCA_KEY_HASH_SECRET", default="") or SECRET_KEY
# Fernet key (urlsafe base64, 32 bytes) for provider credentials stored in the database.
ORCA_ENCRYPTION_KEY = env.str("ORCA_ENCRYPTION_KEY", default="")
ORCA_MAX_BODY_BYTES = env.int("ORCA_MAX_BODY_BYTES", default=32 * 1024 * 1024)
# Token vocabularies each worker loads at start (orca/asgi.py); others load on first use.
ORCA_PRELOAD_TOKENIZERS = env.list("ORCA_PRELOAD_TOKENIZERS", default=["o200k_base"])
# A relay body over this many bytes is parsed in a worker thread that yields the GIL
# (routing/proxy/bodies.py), so one huge request does not stall every other call.
ORCA_JSON_INLINE_BYTES = env.int("ORCA_JSON_INLINE_BYTES", default=1024 * 1024)
# ...and may hold at most this many array items in all (what the loop then walks).
ORCA_MAX_JSON_ITEMS = env.int("ORCA_MAX_JSON_ITEMS", default=100_000)
# What a client may send before the app runs (orca/server.py, the uvicorn protocol): the
# request line plus headers, in bytes and in header fields; seconds from the connection's
# start (or a kept-alive request's first byte) to the end of the headers, and from there to
# the end of the body (a total: a silence timer is kept open by one byte every few seconds).
ORCA_MAX_HEADER_BYTES = env.int("ORCA_MAX_HEADER_BYTES", default=64 * 1024)
ORCA_MAX_HEADER_COUNT = env.int("ORCA_MAX_HEADER_COUNT", default=100)
ORCA_CLIENT_HEADER_TIMEOUT = env.float("ORCA_CLIENT_HEADER_TIMEOUT", default=10.0)
ORCA_CLIENT_BODY_TIMEOUT = env.float("ORCA_CLIENT_BODY_TIMEOUT", default=60.0)
# A relay request with a larger body has its API key checked, from the headers, before the
# body is read: a bad key is answered without reading it.
ORCA_PREAUTH_BODY_BYTES = env.int("ORCA_PREAUTH_BODY_BYTES", default=64 * 1024)
ORCA_UPSTREAM_CONNECT_TIMEOUT = env.float("ORCA_UPSTREAM_CONNECT_TIMEOUT", default=10.0)
ORCA_UPSTREAM_FIRST_BYTE_TIMEOUT = env.float("ORCA_UPSTREAM_FIRST_BYTE_TIMEOUT", default=120.0)
ORCA_UPSTREAM_IDLE_TIMEOUT = env.float("ORCA_UPSTREAM_IDLE_TIMEOUT", default=120.0)
ORCA_UPSTREAM_TOTAL_TIMEOUT = env.float("ORCA_UPSTREAM_TOTAL_TIMEOUT", default=900.0)
ORCA_UPSTREAM_MAX_CONNECTIONS = env.int("ORCA_UPSTREAM_MAX_CONNECTIONS", default=1000)
# SSRF guard (routing/providers/ssrf.py): an upstream host that resolves to a loopback,
# private (RFC 1918, IPv6 ULA fc00::/7), link-local, shared (CGNAT 100.64.0.0/10),
# unspecified, multicast or reserved address, or to a cloud metadata endpoint
# (169.254.169.254, fd00:ec2::254, 100.100.100.200), is refused; IPv4-mapped IPv6 forms too.
# ALLOW_PRIVATE=true allows all of these except the metadata endpoints (a local vLLM or
# Ollama, the test suite's fakes); ALLOWED_NETWORKS (comma-separated CIDRs) allows just the
# networks it lists, metadata endpoints included if listed.
ORCA_UPSTREAM_ALLOW_PRIVATE = env.bool("ORCA_UPSTREAM_ALLOW_PRIVATE", default=False)


def _networks(entries: list[str]) -> list[str]:
    try:
        return [str(ipaddress.ip_network(e.strip(), strict=False)) for e in entries if e.strip()]
    except ValueError as exc:
        raise environ.ImproperlyConfigured(f"ORCA_UPSTREAM_ALLOWED_NETWORKS: {exc}") from None


ORCA_UPSTREAM_ALLOWED_NETWORKS = _networks(env.list("ORCA_UPSTREAM_ALLOWED_NETWORKS", default=[]))
# A PEM file of CA certificates trusted for upstream TLS besides the system's store (both the
# relay's pooled client and the httpx one); empty: the system's store alone.
ORCA_UPSTREAM_CA_BUNDLE = env.str("ORCA_UPSTREAM_CA_BUNDLE", default="")
if ORCA_UPSTREAM_CA_BUNDLE and not Path(ORCA_UPSTREAM_CA_BUNDLE).is_file():
    raise environ.ImproperlyConfigured(
        f"ORCA_UPSTREAM_CA_BUNDLE={ORCA_UPSTREAM_CA_BUNDLE} is not a file"
    )
# How often each gateway process checks whether keys or the catalog changed.
ORCA_CONFIG_POLL_SECONDS = env.float("ORCA_CONFIG_POLL_SECONDS", default=0.25)
ORCA_USAGE_FLUSH_SECONDS = env.float("ORCA_USAGE_FLUSH_SECONDS", default=0.5)
ORCA_USAGE_BATCH_SIZE = env.int("ORCA_USAGE_BATCH_SIZE", default=2000)
# How long a balance reservation stays held in Redis without its settlement before it is
# presumed lost and settled from the usage records (billing.tasks.release_lost_holds). Must
# exceed the longest call: up to 5 attempts (a fallback chain), each within its total
# timeout, provider overrides included. Holds without a usage record wait as long again.
ORCA_RESERVATION_HOLD_SECONDS = env.int(
    "ORCA_RESERVATION_HOLD_SECONDS", default=max(3600, int(2 * 5 * ORCA_UPSTREAM_TOTAL_TIMEOUT))
)
# Only behind a reverse proxy you control: take the client IP from X-Forwarded-For.
ORCA_TRUST_X_FORWARDED_FOR = env.bool("ORCA_TRUST_X_FORWARDED_FOR", default=False)
# Provider health: failures in a row before a model cools down, and for how long.
ORCA_HEALTH_FAILURE_THRESHOLD = env.int("ORCA_HEALTH_FAILURE_THRESHOLD", default=3)
ORCA_HEALTH_COOLDOWN_SECONDS = env.float("ORCA_HEALTH_COOLDOWN_SECONDS", default=30.0)
ORCA_HEALTH_MAX_COOLDOWN_SECONDS = env.float("ORCA_HEALTH_MAX_COOLDOWN_SECONDS", default=300.0)
# How many models a router tries, best first, before giving up.
ORCA_ROUTER_MAX_ATTEMPTS = env.int("ORCA_ROUTER_MAX_ATTEMPTS", default=3)
# What a call served with a workspace's own provider credential (BYOK) costs: this percent
# of the model's price instead of the price (OpenRouter charges 5); 0 charges nothing.
try:
    ORCA_BYOK_FEE_PERCENT = Decimal(env.str("ORCA_BYOK_FEE_PERCENT", default="0").strip())
except InvalidOperation:
    raise environ.ImproperlyConfigured("ORCA_BYOK_FEE_PERCENT must be a number") from None
if not ORCA_BYOK_FEE_PERCENT.is_finite() or not 0 <= ORCA_BYOK_FEE_PERCENT <= 100:
    raise environ.ImproperlyConfigured("ORCA_BYOK_FEE_PERCENT must be between 0 and 100")

# --- Dashboard accounts ------------------------------------------------------------------
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard:home"
LOGOUT_REDIRECT_URL = "login"
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
# For EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend (password resets, alerts).
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="orca@localhost")

# --- Credits: Stripe Checkout top-ups (billing/stripe_checkout.py, README "Credits and Stripe")
# Without STRIPE_SECRET_KEY there is no self-serve top-up: staff grant credit in the admin.
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
# The endpoint's signing secret (whsec_...), from the Stripe dashboard or `stripe listen`.
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
# Seconds a webhook's signed timestamp may be old (Stripe's own default: 300).
STRIPE_WEBHOOK_TOLERANCE = env.int("STRIPE_WEBHOOK_TOLERANCE", default=300)
# Where the Stripe API is; only tests (a fake Stripe) or a proxy set it.
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="https://api.stripe.com").rstrip("/")
# The address users reach this Orca at: Checkout's success and cancel URLs are built from it,
# never from a request's Host header.
ORCA_PUBLIC_BASE_URL = env.str("ORCA_PUBLIC_BASE_URL", default="").rstrip("/")
# The bounds of one top-up, in whole USD.
ORCA_TOPUP_MIN_USD = env.int("ORCA_TOPUP_MIN_USD", default=5)
ORCA_TOPUP_MAX_USD = env.int("ORCA_TOPUP_MAX_USD", default=1000)
if STRIPE_SECRET_KEY:
    _public = urlsplit(ORCA_PUBLIC_BASE_URL)
    if _public.scheme not in ("http", "https") or not _public.hostname:
        raise environ.ImproperlyConfigured(
            "STRIPE_SECRET_KEY is set: ORCA_PUBLIC_BASE_URL must be this Orca's public address "
            f"(https://orca.example.com), not {ORCA_PUBLIC_BASE_URL!r}"
        )
    if not STRIPE_WEBHOOK_SECRET:
        raise environ.ImproperlyConfigured(
            "STRIPE_SECRET_KEY is set: STRIPE_WEBHOOK_SECRET (whsec_...) must be set too, or no "
            "payment would ever be credited"
        )
if not 1 <= ORCA_TOPUP_MIN_USD <= ORCA_TOPUP_MAX_USD:
    raise environ.ImproperlyConfigured(
        "ORCA_TOPUP_MIN_USD must be at least 1 and at most ORCA_TOPUP_MAX_USD"
    )
# --- Operations: metrics, traces, health checks (README "Operations") ----------------------
# /metrics answers only `Authorization: Bearer <this token>`; with none set it is refused
# (403) rather than open to anyone who can reach the gateway.
ORCA_METRICS_TOKEN = env.str("ORCA_METRICS_TOKEN", default="")
# Several worker processes (make serve): each writes its metrics to files here, and a scrape
# of any worker sums them. prometheus-client reads the variable itself; `make serve` empties
# the folder before the workers start.
PROMETHEUS_MULTIPROC_DIR = env.str("PROMETHEUS_MULTIPROC_DIR", default="")
if PROMETHEUS_MULTIPROC_DIR:
    Path(PROMETHEUS_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)
# OpenTelemetry traces of relayed calls when an OTLP/HTTP endpoint is set; the exporter reads
# the standard OTEL_* variables (endpoint, headers, timeout, OTEL_SERVICE_NAME, ...).
ORCA_TRACING = bool(
    env.str("OTEL_EXPORTER_OTLP_ENDPOINT", default="")
    or env.str("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", default="")
) and not env.bool("OTEL_SDK_DISABLED", default=False)
# /readyz: how long each check (database, Redis) may take before it counts as down.
ORCA_READY_TIMEOUT = env.float("ORCA_READY_TIMEOUT", default=2.0)
