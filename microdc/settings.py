"""microdc settings, read from the environment.

Nothing set: an embedded single box (SQLite in the data directory, in-memory channel layer, DEBUG off).
Production: DATABASE_URL (PostgreSQL) and REDIS_URL (channels_redis, shared by several web processes).
"""

import contextlib
import ipaddress
import json
import os
import re
import secrets
import tempfile
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false, yes/no, on/off), got {value!r}")


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DATA_DIR = Path(os.environ.get("MICRODC_DATA_DIR", BASE_DIR / "var")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)


def _secret_key() -> str:
    """SECRET_KEY from the environment, else generated once and kept (0600) in the data directory."""
    if key := os.environ.get("SECRET_KEY"):
        return key
    path = DATA_DIR / "secret_key"
    if not path.exists():
        # Written whole to a temporary file of this process's own, synced, then hard-linked into place: the
        # first of several processes starting at once wins, and none ever reads a partial or empty key.
        fd, tmp = tempfile.mkstemp(dir=DATA_DIR, prefix=".secret_key.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(50))
                fh.flush()
                os.fsync(fh.fileno())
            with contextlib.suppress(FileExistsError):  # another process won: its key is the key
                os.link(tmp, path)
        finally:
            os.unlink(tmp)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("MICRODC_DEBUG")
ALLOWED_HOSTS = env_list("MICRODC_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("MICRODC_CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_tasks_db",
    "microdc.core",
    "microdc.nodes",
    "microdc.telemetry",
    "microdc.facility",
    "microdc.provisioning",
    "microdc.energy",
    "microdc.power",
    "microdc.alerts",
    "microdc.dashboard",
    "microdc.api",
    "microdc.simulator",
    "microdc.worker",
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
]

ROOT_URLCONF = "microdc.urls"
ASGI_APPLICATION = "microdc.asgi.application"
WSGI_APPLICATION = None

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

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{DATA_DIR / 'microdc.sqlite3'}",
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web and worker processes read while one writes; busy timeout rides out short locks.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # Tests start real worker and web processes, which must open the test database too: a file, not memory
    # (one per test run, so two runs side by side never share it).
    DATABASES["default"]["TEST"] = {
        "NAME": os.path.join(tempfile.gettempdir(), f"microdc-test-{os.getpid()}.sqlite3")}

elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Under ASGI each request runs its sync code in a thread of its own, so persistent connections would be one
    # per thread that ever ran, open until they aged out: PostgreSQL's max_connections ran out at 400 GPUs in
    # benchmarks/site_load.py. A psycopg pool per process instead (Django's "pool" option needs CONN_MAX_AGE 0).
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1, "max_size": int(os.environ.get("MICRODC_DB_POOL_SIZE", "8")), "timeout": 10}

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # redis-py 8 gives every socket a 5 s read timeout by default, the time channels_redis blocks a
            # receive on the server (BZPOPMIN, 5 s): a quiet receive timed out and closed the websocket.
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 15, "socket_connect_timeout": 5}],
                       "prefix": os.environ.get("MICRODC_REDIS_PREFIX", "microdc")},
        }
    }
else:
    # Single process only: the in-memory layer does not cross process boundaries.
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

TASKS = {
    "default": {
        "BACKEND": os.environ.get("MICRODC_TASK_BACKEND", "django_tasks_db.DatabaseBackend"),
    }
}

AUTH_USER_MODEL = "core.User"
AUTHENTICATION_BACKENDS = ["microdc.core.backends.RoleBackend"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard:overview"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("MICRODC_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("MICRODC_STATIC_ROOT", DATA_DIR / "static"))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# Without collectstatic (tests, demo) whitenoise serves straight from the app finders.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("MICRODC_SECURE_COOKIES")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("MICRODC_BEHIND_PROXY") else None
X_FRAME_OPTIONS = "DENY"


def _networks(name: str) -> list[str]:
    try:
        return [str(ipaddress.ip_network(item, strict=False)) for item in env_list(name, "")]
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}: {exc} (addresses or networks, comma-separated)") from None


# Proxies whose X-Forwarded-For is believed (addresses or CIDRs); the client is the right-most address not in it.
MICRODC_TRUSTED_PROXIES = _networks("MICRODC_TRUSTED_PROXIES")
# Login attempts (API token, /login/, /admin/login/) that fail, allowed per user name and per client address.
MICRODC_LOGIN_RATE = os.environ.get("MICRODC_LOGIN_RATE", "20/min")
if not re.fullmatch(r"\d+/[smhd][a-z]*", MICRODC_LOGIN_RATE):
    raise ImproperlyConfigured(f"MICRODC_LOGIN_RATE must be like 20/min, 5/s or 100/h, got {MICRODC_LOGIN_RATE!r}")
SECURE_CONTENT_TYPE_NOSNIFF = True

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "microdc.core.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["microdc.core.permissions.RolePermission"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    # Every JSON body is an object of named fields; an array or scalar is a 400 before a view sees it.
    "DEFAULT_PARSER_CLASSES": [
        "microdc.core.api.parsers.JSONObjectParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "microdc.core.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "microdc.core.exceptions.exception_handler",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "microdc API",
    "DESCRIPTION": "Micro data center appliance: inventory, telemetry, facility meters and PUE, provisioning.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    # Swagger UI from local static files: the site may have no internet.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "ENUM_NAME_OVERRIDES": {
        "AcceleratorKindEnum": "microdc.nodes.models.Accelerator.Kind",
        "MeterKindEnum": "microdc.nodes.models.FacilityMeter.Kind",
        "NodeStatusEnum": "microdc.nodes.models.Node.Status",
    },
}

CACHES = {
    # Computed views (summaries, charts): each process keeps its own for a few seconds.
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    # State every web process must agree on (login attempts, websocket connections): Redis when there is one,
    # else a table in the database (created by core's migrations; SQLite or PostgreSQL alike).
    "shared": ({"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                "KEY_PREFIX": os.environ.get("MICRODC_REDIS_PREFIX", "microdc")} if REDIS_URL else
               {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "microdc_shared_cache",
                # Culling would forget throttle counts under a flood of user names; expired rows go anyway.
                "OPTIONS": {"MAX_ENTRIES": 1_000_000}}),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("MICRODC_LOG_LEVEL", "INFO")},
    # Meter reads and agent pushes are routine; their per-request lines would drown everything else.
    "loggers": {name: {"level": "WARNING"} for name in ("django.db.backends", "httpx", "httpcore", "pymodbus")},
}

# --- microdc's own settings -------------------------------------------------------------------------
# Bearer token that /metrics requires when set (Prometheus: authorization.credentials).
MICRODC_METRICS_TOKEN = os.environ.get("MICRODC_METRICS_TOKEN", "")
# Largest request body the telemetry endpoint accepts, in bytes.
MICRODC_TELEMETRY_MAX_BYTES = int(os.environ.get("MICRODC_TELEMETRY_MAX_BYTES", str(2 * 1024 * 1024)))
DATA_UPLOAD_MAX_MEMORY_SIZE = MICRODC_TELEMETRY_MAX_BYTES
# Sensor sources (hwmon, RAPL) one node may create, and metric names one node source may report: a batch
# beyond either is refused (400), so a node token cannot grow the store and /metrics without bound.
MICRODC_MAX_SENSORS_PER_NODE = int(os.environ.get("MICRODC_MAX_SENSORS_PER_NODE", "256"))
MICRODC_MAX_METRICS_PER_SOURCE = int(os.environ.get("MICRODC_MAX_METRICS_PER_SOURCE", "64"))
# A node whose agent has not pushed for this long is down; its series leave /metrics.
MICRODC_TELEMETRY_STALE_SECONDS = int(os.environ.get("MICRODC_TELEMETRY_STALE_SECONDS", "120"))
# Two samples further apart than this leave a gap (no energy attributed, coverage short).
MICRODC_TELEMETRY_MAX_GAP_SECONDS = int(os.environ.get("MICRODC_TELEMETRY_MAX_GAP_SECONDS", "300"))
# Retention: raw samples, 1-minute rollups (30-day PUE needs 30 days), 1-hour rollups.
MICRODC_RAW_RETENTION_HOURS = int(os.environ.get("MICRODC_RAW_RETENTION_HOURS", "48"))
MICRODC_ROLLUP_MINUTE_RETENTION_DAYS = int(os.environ.get("MICRODC_ROLLUP_MINUTE_RETENTION_DAYS", "35"))
MICRODC_ROLLUP_HOUR_RETENTION_DAYS = int(os.environ.get("MICRODC_ROLLUP_HOUR_RETENTION_DAYS", "800"))
# Operational carbon of self-consumed on-site generation (PV), gCO2e/kWh; location-based (SCI) default 0.
MICRODC_ONSITE_GENERATION_G_PER_KWH = float(os.environ.get("MICRODC_ONSITE_GENERATION_G_PER_KWH", "0"))
# How often an open deployment page re-reads its figures (the ledger changes every 30 s).
MICRODC_LIVE_ENERGY_INTERVAL = float(os.environ.get("MICRODC_LIVE_ENERGY_INTERVAL", "10"))
# Alerts: how often the worker evaluates the rules, how long resolved alerts and sent notifications are kept,
# how often firing alerts are re-sent to an Alertmanager (it forgets alerts not re-sent within its
# resolve_timeout), and how long an undeliverable notification is retried (with backoff) before it is given up.
MICRODC_ALERT_EVAL_SECONDS = float(os.environ.get("MICRODC_ALERT_EVAL_SECONDS", "10"))
MICRODC_ALERT_RETENTION_DAYS = int(os.environ.get("MICRODC_ALERT_RETENTION_DAYS", "90"))
MICRODC_ALERTMANAGER_RESEND_SECONDS = float(os.environ.get("MICRODC_ALERTMANAGER_RESEND_SECONDS", "60"))
MICRODC_NOTIFICATION_RETRY_HOURS = float(os.environ.get("MICRODC_NOTIFICATION_RETRY_HOURS", "24"))
MICRODC_NOTIFICATION_MAX_BACKOFF_SECONDS = float(os.environ.get("MICRODC_NOTIFICATION_MAX_BACKOFF_SECONDS", "300"))
if MICRODC_ALERT_EVAL_SECONDS <= 0 or MICRODC_ALERTMANAGER_RESEND_SECONDS <= 0:
    raise ImproperlyConfigured("MICRODC_ALERT_EVAL_SECONDS and MICRODC_ALERTMANAGER_RESEND_SECONDS must be above 0")
# E-mail receivers: Django's mailer (Django 6.1 MAILERS), SMTP configured from the environment.
_SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
_MAIL_BACKEND = os.environ.get("MICRODC_EMAIL_BACKEND", _SMTP_BACKEND)
_SMTP_STARTTLS, _SMTP_TLS = env_bool("MICRODC_SMTP_STARTTLS"), env_bool("MICRODC_SMTP_TLS")
MAILERS = {"default": {"BACKEND": _MAIL_BACKEND, "OPTIONS": {
    "host": os.environ.get("MICRODC_SMTP_HOST", "localhost"),
    "port": int(os.environ.get("MICRODC_SMTP_PORT", "25")),
    "username": os.environ.get("MICRODC_SMTP_USER", ""),
    "password": os.environ.get("MICRODC_SMTP_PASSWORD", ""),
    "use_tls": _SMTP_STARTTLS,
    "use_ssl": _SMTP_TLS,
    "timeout": float(os.environ.get("MICRODC_SMTP_TIMEOUT_SECONDS", "10")),
} if _MAIL_BACKEND == _SMTP_BACKEND else {}}}
DEFAULT_FROM_EMAIL = os.environ.get("MICRODC_MAIL_FROM", "microdc@localhost")
if _SMTP_STARTTLS and _SMTP_TLS:
    raise ImproperlyConfigured("MICRODC_SMTP_STARTTLS and MICRODC_SMTP_TLS exclude each other")
# Power budgets: the share of a breaker's rating it may carry continuously (electrical codes: 80%).
MICRODC_CONTINUOUS_LOAD_DERATING = float(os.environ.get("MICRODC_CONTINUOUS_LOAD_DERATING", "0.8"))
if not 0 < MICRODC_CONTINUOUS_LOAD_DERATING <= 1:
    raise ImproperlyConfigured("MICRODC_CONTINUOUS_LOAD_DERATING must be above 0 and at most 1")
# Power policies (microdc.power.policies), run by the worker every MICRODC_POWER_POLICY_SECONDS. Hysteresis: caps
# fall when a load passes its limit and aim MARGIN under it; they rise, a STEP of each device's range at a time,
# only after the load has stayed 2 x MARGIN under the limit for RAISE_HOLD seconds; after acting, a policy waits
# SETTLE seconds (meters polled, agents answered) before it acts on that limit again.
MICRODC_POWER_POLICY_SECONDS = float(os.environ.get("MICRODC_POWER_POLICY_SECONDS", "5"))
MICRODC_POWER_BUDGET_MARGIN = float(os.environ.get("MICRODC_POWER_BUDGET_MARGIN", "0.05"))
MICRODC_POWER_SETTLE_SECONDS = float(os.environ.get("MICRODC_POWER_SETTLE_SECONDS", "15"))
MICRODC_POWER_RAISE_HOLD_SECONDS = float(os.environ.get("MICRODC_POWER_RAISE_HOLD_SECONDS", "60"))
MICRODC_POWER_RAISE_STEP_RATIO = float(os.environ.get("MICRODC_POWER_RAISE_STEP_RATIO", "0.1"))
# Placement by headroom: the order of preferences among nodes that fit (microdc.power.placement).
MICRODC_PLACEMENT_PREFERENCES = os.environ.get("MICRODC_PLACEMENT_PREFERENCES", "circuit,cool,pack")
if not set(p.strip() for p in MICRODC_PLACEMENT_PREFERENCES.split(",")) <= {"circuit", "cool", "pack"}:
    raise ImproperlyConfigured("MICRODC_PLACEMENT_PREFERENCES lists circuit, cool and pack, in the order wanted")
# On battery: keep the UPS's reported runtime at least this long; cooling alarm: cap the racks served to this share
# of each accelerator's default limit, on a supply temperature above the limit or a coolant flow below the minimum.
MICRODC_BATTERY_MIN_RUNTIME_SECONDS = float(os.environ.get("MICRODC_BATTERY_MIN_RUNTIME_SECONDS", "600"))
MICRODC_COOLING_CAP_RATIO = float(os.environ.get("MICRODC_COOLING_CAP_RATIO", "0.6"))
MICRODC_COOLING_SUPPLY_MAX_CELSIUS = float(os.environ.get("MICRODC_COOLING_SUPPLY_MAX_CELSIUS", "32"))
MICRODC_COOLING_MIN_FLOW_LPM = float(os.environ.get("MICRODC_COOLING_MIN_FLOW_LPM", "0"))
if not (0 <= MICRODC_POWER_BUDGET_MARGIN < 0.5 and 0 < MICRODC_POWER_RAISE_STEP_RATIO <= 1
        and 0 < MICRODC_COOLING_CAP_RATIO <= 1 and MICRODC_POWER_POLICY_SECONDS > 0):
    raise ImproperlyConfigured("power policy settings out of range: MICRODC_POWER_BUDGET_MARGIN 0..0.5, "
                               "MICRODC_POWER_RAISE_STEP_RATIO and MICRODC_COOLING_CAP_RATIO above 0 up to 1, "
                               "MICRODC_POWER_POLICY_SECONDS above 0")
# /api/v1/telemetry/history/: most points one request returns, longest span served from raw samples.
MICRODC_HISTORY_MAX_POINTS = int(os.environ.get("MICRODC_HISTORY_MAX_POINTS", "10000"))
MICRODC_HISTORY_RAW_MAX_HOURS = float(os.environ.get("MICRODC_HISTORY_RAW_MAX_HOURS", "3"))
# Dashboard websocket connections one user may hold at once (across all web processes).
MICRODC_LIVE_MAX_CONNECTIONS_PER_USER = int(os.environ.get("MICRODC_LIVE_MAX_CONNECTIONS_PER_USER", "16"))
# Provisioning: where model artifacts given as paths may live, how the nodes reach the appliance (agent
# bootstrap), how long one Ansible run may take, and how many nodes a rollout batch touches after the canary.
MICRODC_ARTIFACT_ROOTS = env_list("MICRODC_ARTIFACT_ROOTS", str(DATA_DIR / "artifacts"))
# Artifact URLs: hosts and networks (CIDR) trusted even where the default refuses (loopback, link-local, the
# appliance's own addresses...), the largest download, and how long one download may take in all.
MICRODC_ARTIFACT_URL_ALLOW = env_list("MICRODC_ARTIFACT_URL_ALLOW", "")
MICRODC_ARTIFACT_MAX_BYTES = int(os.environ.get("MICRODC_ARTIFACT_MAX_BYTES", str(128 * 1024**3)))
MICRODC_ARTIFACT_DOWNLOAD_SECONDS = int(os.environ.get("MICRODC_ARTIFACT_DOWNLOAD_SECONDS", "3600"))
MICRODC_PUBLIC_URL = os.environ.get("MICRODC_PUBLIC_URL", "http://127.0.0.1:8000")
MICRODC_JOB_TIMEOUT_SECONDS = int(os.environ.get("MICRODC_JOB_TIMEOUT_SECONDS", "3600"))
MICRODC_ROLLOUT_BATCH_SIZE = int(os.environ.get("MICRODC_ROLLOUT_BATCH_SIZE", "2"))
MICRODC_JOB_STALE_SECONDS = int(os.environ.get("MICRODC_JOB_STALE_SECONDS", "120"))
# A queued job that holds its nodes and that no worker has started within this time is given up (interrupted).
MICRODC_JOB_QUEUE_TIMEOUT_SECONDS = int(os.environ.get("MICRODC_JOB_QUEUE_TIMEOUT_SECONDS", "3600"))
# Variables given to every playbook run, as JSON (e.g. {"microdc_model_wheelhouse": "/srv/wheels"}).
MICRODC_ANSIBLE_EXTRA_VARS = json.loads(os.environ.get("MICRODC_ANSIBLE_EXTRA_VARS", "{}"))
# Model servers' metrics pages: how often the worker scrapes them, how long one fetch may take (less than the
# interval, so rounds never pile up), the largest page read, and how many fetches run at once.
MICRODC_MODEL_SCRAPE_SECONDS = float(os.environ.get("MICRODC_MODEL_SCRAPE_SECONDS", "10"))
MICRODC_MODEL_SCRAPE_TIMEOUT_SECONDS = float(os.environ.get("MICRODC_MODEL_SCRAPE_TIMEOUT_SECONDS",
                                                            str(min(5.0, MICRODC_MODEL_SCRAPE_SECONDS / 2))))
MICRODC_MODEL_SCRAPE_MAX_BYTES = int(os.environ.get("MICRODC_MODEL_SCRAPE_MAX_BYTES", str(2 * 1024 * 1024)))
MICRODC_MODEL_SCRAPE_WORKERS = int(os.environ.get("MICRODC_MODEL_SCRAPE_WORKERS", "16"))
if not 0 < MICRODC_MODEL_SCRAPE_TIMEOUT_SECONDS < MICRODC_MODEL_SCRAPE_SECONDS:
    raise ImproperlyConfigured(f"MICRODC_MODEL_SCRAPE_TIMEOUT_SECONDS ({MICRODC_MODEL_SCRAPE_TIMEOUT_SECONDS:g}) "
                               "must be above 0 and below MICRODC_MODEL_SCRAPE_SECONDS "
                               f"({MICRODC_MODEL_SCRAPE_SECONDS:g})")
if MICRODC_MODEL_SCRAPE_MAX_BYTES < 1024 or MICRODC_MODEL_SCRAPE_WORKERS < 1:
    raise ImproperlyConfigured("MICRODC_MODEL_SCRAPE_MAX_BYTES must be at least 1024 and "
                               "MICRODC_MODEL_SCRAPE_WORKERS at least 1")
