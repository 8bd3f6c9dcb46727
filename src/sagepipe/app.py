"""The composition root: the one place that builds concrete classes and wires them."""

from __future__ import annotations

import fcntl
import importlib.util
import ipaddress
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sagepipe.config import Config
from sagepipe.engine.documents import DocumentReader
from sagepipe.engine.driver import Services
from sagepipe.engine.engine import Engine
from sagepipe.engine.notifier import CallbackNotifier
from sagepipe.engine.step_kinds import Runners
from sagepipe.gateway.awsjson import AwsJsonApp
from sagepipe.gateway.console import ConsoleApp
from sagepipe.gateway.extension import ExtensionApi
from sagepipe.gateway.operations import SERVED, bind
from sagepipe.gateway.sigv4 import CredentialsFileError, Secret, load_credentials
from sagepipe.objectstore.embedded import EmbeddedStore, EmbeddedStoreError
from sagepipe.objectstore.store import ObjectStore, StoreConfig
from sagepipe.protocol.validate import warm_up
from sagepipe.providers.callbacks import CallbacksProvider
from sagepipe.providers.console import ConsoleProvider
from sagepipe.providers.definitions import DefinitionSource
from sagepipe.providers.executions import ExecutionsProvider
from sagepipe.providers.history import HistoryProvider
from sagepipe.providers.jobs import JobsProvider
from sagepipe.providers.logs import LogsProvider
from sagepipe.providers.pipelines import PipelinesProvider
from sagepipe.providers.registry import RegistryProvider
from sagepipe.providers.retry import RetryProvider
from sagepipe.providers.steps import StepsProvider
from sagepipe.providers.tags import TagsProvider
from sagepipe.runners.faults import FaultRules, SharedFaultRules
from sagepipe.runners.lambdas import LambdaRunner
from sagepipe.runners.local.images import ImageMap, ImagesFileError
from sagepipe.runners.local.runner import LocalRunner
from sagepipe.runners.local.sandbox import Sandbox, SandboxUnavailable, detect
from sagepipe.runners.port import Runner
from sagepipe.runners.ray.resources import InstanceTypes, InstanceTypesError
from sagepipe.runners.ray.runner import RayRunner
from sagepipe.runners.simulate import SimulateRunner
from sagepipe.store.db import Database, SqliteDatabase, open_database
from sagepipe.store.migrations import migrate

log = logging.getLogger("sagepipe")


@dataclass
class Service:
    config: Config
    db: Database
    engine: Engine
    app: AwsJsonApp
    lock: IO[str] | None
    faults: SharedFaultRules
    embedded_store: EmbeddedStore | None = None
    store: StoreConfig | None = None  # the object store jobs and definitions use, if any
    local_runner: LocalRunner | None = None

    async def start(self) -> None:
        try:
            if self.embedded_store is not None:
                await self.embedded_store.start()
                self.embedded_store.supervise()
            if self.config.faults:
                await self.faults.replace(FaultRules.from_file(self.config.faults).rules)
            else:
                await self.faults.refresh()
            await self.engine.start(sole_owner=isinstance(self.db, SqliteDatabase))
        except BaseException as exc:
            # A server that does not start leaves no store behind (it has a session of its
            # own, so nothing else would end it): a bad --faults file, Ctrl-C while waiting.
            if self.embedded_store is not None:
                await self.embedded_store.stop()
            if isinstance(exc, EmbeddedStoreError):
                raise StartupError(str(exc)) from None
            raise

    async def stop(self) -> None:
        await self.engine.stop()
        if self.embedded_store is not None:
            # Local jobs outlive the server and read and write through the store until they
            # end: while any runs, the store runs on for the next server to adopt.
            busy = self.local_runner.running_jobs() if self.local_runner else 0
            if busy:
                log.warning(
                    "the embedded object store keeps running for %d running local job(s); the "
                    "next `sagepipe serve` on this data directory adopts it", busy,
                )  # fmt: skip
            await self.embedded_store.stop(leave_running=bool(busy))
        self.db.close()
        if self.lock:
            self.lock.close()


class StartupError(Exception):
    """The service cannot start as configured; the message says what to do."""


class DataDirInUse(StartupError):
    pass


RUNNER_NAMES = ("local", "ray", "simulate")


def check_runner(name: str) -> None:
    if name not in RUNNER_NAMES:
        raise StartupError(
            f"Unknown runner '{name}'. --runner (or SAGEPIPE_RUNNER) takes one of: "
            f"{', '.join(RUNNER_NAMES)}."
        )


def _lock_sqlite(path: str) -> IO[str]:
    """One server per SQLite file: its engine assumes it owns every execution in it."""
    handle = open(path + ".lock", "w")  # noqa: SIM115 - held open for the server's life
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise DataDirInUse(
            f"Another sagepipe server is using {path}. Stop it, or give this one its own "
            "--data-dir (or share a PostgreSQL database with --db postgresql://...)."
        ) from None
    return handle


def store_config(config: Config) -> StoreConfig:
    """The object store jobs use: --s3-endpoint-url with the usual AWS credentials (a local
    S3-compatible server that accepts any key gets placeholder ones)."""
    import boto3

    session = boto3.session.Session()
    credentials = session.get_credentials()
    region = session.region_name or "us-east-1"
    if credentials is None:
        return StoreConfig(config.s3_endpoint_url, region, "sagepipe", "sagepipe")
    frozen = credentials.get_frozen_credentials()
    return StoreConfig(config.s3_endpoint_url, region, frozen.access_key, frozen.secret_key)


def embedded_store(config: Config) -> tuple[EmbeddedStore, StoreConfig]:
    """The store the server runs itself, for the single-node default."""
    store = EmbeddedStore(Path(config.data_dir) / "s3")
    try:
        return store, store.prepare()
    except EmbeddedStoreError as exc:
        raise StartupError(str(exc)) from None


def local_environment(config: Config) -> tuple[ImageMap, Sandbox]:
    """What the local runner needs from this machine; checked before any store starts."""
    try:
        images = ImageMap.load(config.images)
        sandbox = detect(config.sandbox, Path(config.data_dir) / "sandbox-probe")
    except (ImagesFileError, SandboxUnavailable) as exc:
        raise StartupError(str(exc)) from None
    return images, sandbox


def ray_runner(
    config: Config, store: StoreConfig | None
) -> tuple[Runner, EmbeddedStore | None, StoreConfig]:
    """The Ray runner, and the object store its jobs use: --s3-endpoint-url, else the embedded
    one (reachable from workers on this machine only)."""
    if not config.ray_address:
        raise StartupError(
            "--runner ray needs --ray-address: the Ray head's dashboard URL (the Jobs API), "
            "e.g. --ray-address http://127.0.0.1:8265."
        )
    if importlib.util.find_spec("ray") is None:
        raise StartupError(
            "--runner ray needs Ray's Jobs API client: pip install 'sagepipe[ray]' (the same "
            "Ray version as the cluster's)."
        )
    try:
        images = ImageMap.load(config.images)
        instance_types = InstanceTypes.load(config.ray_instance_types, config.ray_max_cpus)
    except (ImagesFileError, InstanceTypesError) as exc:
        raise StartupError(str(exc)) from None
    embedded = None
    if store is None:
        embedded, store = embedded_store(config)
    return RayRunner(config.ray_address, images, store, instance_types), embedded, store


def access(config: Config) -> dict[str, Secret] | None:
    """The keys requests are verified against; None: open. Open is refused beyond loopback
    unless asked for (--allow-open)."""
    if config.credentials is not None:
        try:
            return load_credentials(config.credentials)
        except CredentialsFileError as exc:
            raise StartupError(str(exc)) from None
    if not _loopback(config.host) and not config.allow_open:
        raise StartupError(
            f"refusing to listen on {config.host} without --credentials: anyone who can reach "
            "the port could act as any account. Give --credentials FILE (docs/behaviour.md "
            "§14), listen on 127.0.0.1, or pass --allow-open if that is what you want."
        )
    return None


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build(config: Config, runner: Runner | None = None) -> Service:
    """The service as configured; `runner` replaces the one --runner names (tests)."""
    credentials = access(config)
    if runner is None:
        check_runner(config.runner)
    db = open_database(
        config.database_url, stalled_after_ms=int(max(2.0, 2 * config.lease_seconds) * 1000)
    )
    lock = None
    if isinstance(db, SqliteDatabase) and db.path != ":memory:":
        lock = _lock_sqlite(db.path)
    migrate(db)
    faults = SharedFaultRules(db)
    # A callback message not sent within two lease periods counts as lost: any server resends it.
    notifier = CallbackNotifier(db, config.sqs_endpoint_url, grace=2 * config.lease_seconds)
    simulate = SimulateRunner(faults)
    store = store_config(config) if config.s3_endpoint_url else None
    embedded = None
    if runner is None and config.runner == "local":
        images, sandbox = local_environment(config)
        if store is None:
            embedded, store = embedded_store(config)
        runner = LocalRunner(
            Path(config.data_dir) / "jobs", sandbox, store, images,
            max_jobs=config.max_local_jobs or os.cpu_count() or 1,
            keep_failed=config.keep_failed_jobs,
        )  # fmt: skip
    if runner is None and config.runner == "ray":
        runner, embedded, store = ray_runner(config, store)
    functions = LambdaRunner(config.lambda_endpoint_url) if config.lambda_endpoint_url else None
    runners = Runners(runner or simulate, simulate, functions)
    documents = DocumentReader(ObjectStore(store) if store else None)
    engine = Engine(
        Services(db, runners, notifier, documents), config.lease_seconds, upkeep=[faults.refresh]
    )
    retry = RetryProvider(db, engine, config)
    providers: list[object] = [
        PipelinesProvider(db, DefinitionSource(store), config.max_pipelines),
        ExecutionsProvider(db, engine, config.max_running_executions),
        StepsProvider(db),
        CallbacksProvider(db, engine),
        TagsProvider(db),
        JobsProvider(db, engine),
        RegistryProvider(db),
        LogsProvider(db, runners),
        retry,
    ]
    warm_up(SERVED)
    app = AwsJsonApp(
        bind(providers),
        ExtensionApi(
            faults,
            HistoryProvider(db),
            retry,
            engine,
            ConsoleProvider(db),
            private=credentials is not None,
        ),
        accounts=config.accounts,
        max_body_bytes=config.max_body_bytes,
        credentials=credentials,
        console=ConsoleApp(credentials),
    )
    local = runner if isinstance(runner, LocalRunner) else None
    return Service(config, db, engine, app, lock, faults, embedded, store, local)


def data_dir_ready(config: Config) -> None:
    if config.db is None or config.runner in ("local", "ray"):
        os.makedirs(config.data_dir, exist_ok=True)
