"""Per-process gateway state: cached keys and catalog, the change poller, the usage buffer.

The hot path reads only from memory. A miss loads from the database once; a change to keys,
workspaces or the catalog anywhere bumps a shared version that every process polls, so a
revoked key stops working everywhere within one poll interval (0.25 s by default).
"""

import asyncio
import atexit
import logging
import time

from django.conf import settings
from django.db import close_old_connections

from billing.limits import make_limiter
from billing.usage_buffer import UsageBuffer
from workspaces.config_version import VersionReader
from workspaces.selectors import KeyContext, key_context

from ...catalog.byok import OwnCredential, workspace_catalog
from ...catalog.snapshot import Catalog, ProviderRoute, RouterSpec
from ...health import HealthBoard
from ...providers import Timeouts
from ...providers import http as upstream_http
from ...selectors import load_catalog, workspace_credentials, workspace_routers
from ...telemetry import metrics

log = logging.getLogger(__name__)

_ENTRY_TTL = 60.0  # belt and braces: re-read a key at least this often even with no bump
_DEGRADED_TTL = 1.0
_MAX_CACHED_KEYS = 100_000  # unknown keys are cached too; bound what random keys can fill


def _key_and_credentials(key_hash: str) -> tuple[KeyContext | None, tuple[OwnCredential, ...]]:
    """A key's context and its workspace's own provider credentials, in one thread hop."""
    context = key_context(key_hash)
    if context is None:
        return None, ()
    return context, workspace_credentials(context.workspace_id)


def run_db(fn, *args):
    """Run an ORM read in a worker thread with a healthy connection."""

    def call():
        close_old_connections()
        return fn(*args)

    return asyncio.to_thread(call)


class GatewayState:
    def __init__(self) -> None:
        self.usage = UsageBuffer()
        self.limiter = make_limiter()
        self.timeouts = Timeouts(
            connect=settings.ORCA_UPSTREAM_CONNECT_TIMEOUT,
            first_byte=settings.ORCA_UPSTREAM_FIRST_BYTE_TIMEOUT,
            idle=settings.ORCA_UPSTREAM_IDLE_TIMEOUT,
            total=settings.ORCA_UPSTREAM_TOTAL_TIMEOUT,
        )
        self.health = HealthBoard(
            failure_threshold=settings.ORCA_HEALTH_FAILURE_THRESHOLD,
            cooldown=settings.ORCA_HEALTH_COOLDOWN_SECONDS,
            max_cooldown=settings.ORCA_HEALTH_MAX_COOLDOWN_SECONDS,
            on_cooldown=metrics.cooldown_started,
        )
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._keys: dict[str, tuple[KeyContext | None, float]] = {}
        self._catalog: Catalog | None = None
        self._routers: dict[int, dict[str, RouterSpec]] = {}
        # Per workspace: its own provider credentials (read with its keys) and the catalog
        # as it sees it (the platform's own object when it has none).
        self._own: dict[int, tuple[OwnCredential, ...]] = {}
        self._views: dict[int, Catalog] = {}
        self._generation = 0  # bumped on every clear; loads from an older one are dropped
        self._version: str | None = None
        self._reader: VersionReader | None = None
        self._poller: asyncio.Task | None = None
        self._started: asyncio.Task | None = None
        # While the change signal is unreadable, cached keys are trusted for a second only.
        self._degraded = False

    async def ensure_started(self) -> None:
        started = self._started
        if started is None or (
            started.done() and (started.cancelled() or started.exception() is not None)
        ):
            # Its own task, so a cancelled first request cannot poison the others' wait.
            started = self._started = asyncio.get_running_loop().create_task(self._start())
        await asyncio.shield(started)

    async def _start(self) -> None:
        self._reader = VersionReader()
        try:
            self._version = await self._reader.read()  # baseline before any load
        except Exception:
            log.warning("config version unreadable at start; re-reading keys every second")
            self._degraded = True
        self._poller = asyncio.get_running_loop().create_task(self._poll(), name="config-poller")

    async def _poll(self) -> None:
        assert self._reader is not None
        while True:
            await asyncio.sleep(settings.ORCA_CONFIG_POLL_SECONDS)
            self.report_metrics()
            try:
                version = await self._reader.read()
            except Exception:
                if not self._degraded:
                    log.warning("config version unreadable; re-reading keys every second")
                self._degraded = True
                continue
            self._degraded = False
            if version != self._version:
                self._version = version
                self.clear()
            try:
                await self._reader.share_health(self.health)
            except Exception:
                log.warning("could not share provider health", exc_info=True)

    def report_metrics(self) -> None:
        """Move this process's call tallies into the metrics and sample its gauges (each
        tick, before a scrape in this process, at shutdown)."""
        try:
            metrics.flush()
            metrics.sample(
                self.health.cooling_count(), self.usage.unwritten_count, self.usage.lag_seconds()
            )
        except Exception:  # metrics must never stop the poller
            log.exception("reporting metrics failed")

    def clear(self) -> None:
        self._generation += 1
        self._keys = {}
        self._catalog = None
        self._routers = {}
        self._own = {}
        self._views = {}
        self.limiter.forget_balances()

    @property
    def generation(self) -> int:
        """Bumped by every clear: a per-process cache of config keyed to it is current."""
        return self._generation

    def fresh(self, loaded_at: float) -> bool:
        """Whether config loaded at `loaded_at` (monotonic) may still be trusted without a
        change signal: a minute, or a second while the signal is unreadable."""
        return time.monotonic() - loaded_at < (_DEGRADED_TTL if self._degraded else _ENTRY_TTL)

    @property
    def started(self) -> bool:
        started = self._started
        return (
            started is not None
            and started.done()
            and not started.cancelled()
            and started.exception() is None
        )

    def cached_key(self, key_hash: str) -> tuple[bool, KeyContext | None]:
        """(True, context) when the cache can answer without a database read."""
        entry = self._keys.get(key_hash)
        ttl = _DEGRADED_TTL if self._degraded else _ENTRY_TTL
        if entry is not None and time.monotonic() - entry[1] < ttl:
            return True, entry[0]
        return False, None

    @property
    def cached_catalog(self) -> Catalog | None:
        return self._catalog

    async def key(self, key_hash: str) -> KeyContext | None:
        hit, context = self.cached_key(key_hash)
        if hit:
            return context
        generation = self._generation
        context, own = await run_db(_key_and_credentials, key_hash)
        if generation == self._generation:
            if len(self._keys) >= _MAX_CACHED_KEYS:
                self._keys = {}
            self._keys[key_hash] = (context, time.monotonic())
            if context is not None:
                self._remember_credentials(context.workspace_id, own)
        return context

    def _remember_credentials(self, workspace_id: int, own: tuple[OwnCredential, ...]) -> None:
        if self._own.get(workspace_id) == own:
            return
        if len(self._own) >= _MAX_CACHED_KEYS:
            self._own, self._views = {}, {}
        self._own[workspace_id] = own
        self._views.pop(workspace_id, None)  # re-derived from these on the next call

    def cached_view(self, workspace_id: int) -> Catalog | None:
        """The catalog as this workspace sees it (its own credentials first), if built."""
        return self._views.get(workspace_id)

    async def view(self, workspace_id: int) -> Catalog:
        view = self._views.get(workspace_id)
        if view is not None:
            return view
        generation = self._generation
        catalog = self._catalog or await self.catalog()
        own = self._own.get(workspace_id)
        if own is None:  # the key was cached before a clear; its workspace is read again
            own = await run_db(workspace_credentials, workspace_id)
        view = workspace_catalog(catalog, own, workspace_id, settings.ORCA_BYOK_FEE_PERCENT)
        if generation == self._generation:
            self._own[workspace_id] = own
            self._views[workspace_id] = view
        return view

    async def catalog(self) -> Catalog:
        catalog = self._catalog
        if catalog is None:
            generation = self._generation
            catalog = await run_db(load_catalog)
            if generation == self._generation:
                self._catalog = catalog
        return catalog

    async def routers(self, workspace_id: int) -> dict[str, RouterSpec]:
        routers = self._routers.get(workspace_id)
        if routers is None:
            generation = self._generation
            routers = await run_db(workspace_routers, workspace_id)
            if generation == self._generation:
                self._routers[workspace_id] = routers
        return routers

    def timeouts_for(self, provider: ProviderRoute) -> Timeouts:
        base = self.timeouts
        if not (
            provider.connect_timeout
            or provider.first_byte_timeout
            or provider.idle_timeout
            or provider.total_timeout
        ):
            return base
        return Timeouts(
            connect=provider.connect_timeout or base.connect,
            first_byte=provider.first_byte_timeout or base.first_byte,
            idle=provider.idle_timeout or base.idle,
            total=provider.total_timeout or base.total,
        )

    def slot(self, provider: ProviderRoute) -> asyncio.Semaphore | None:
        """The provider's concurrency cap in this process, if it has one."""
        if not provider.max_concurrency:
            return None
        semaphore = self._slots.get(provider.slug)
        if semaphore is None:
            semaphore = self._slots[provider.slug] = asyncio.Semaphore(provider.max_concurrency)
        return semaphore

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            self._poller = None
        await self.usage.close()
        self.report_metrics()
        await self.limiter.close()
        await upstream_http.close()
        if self._reader is not None:
            await self._reader.close()
            self._reader = None


state = GatewayState()


def _flush_at_exit() -> None:
    # Servers without ASGI lifespan (daphne) still lose nothing on a normal exit.
    try:
        state.usage.flush_sync()
    except Exception:
        log.exception("usage flush at exit failed")


atexit.register(_flush_at_exit)
