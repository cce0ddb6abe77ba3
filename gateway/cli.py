"""The ``im`` command: serve, the split processes, rebuild, admin."""

from __future__ import annotations

import argparse
import asyncio
import errno
import getpass
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway import logs
from gateway.settings import Settings, SettingsError, ensure_jwt_secret, load_settings

log = logging.getLogger("im")


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {"host": getattr(args, "host", None), "port": getattr(args, "port", None)}
    s = load_settings(**overrides)
    logs.configure(s.log_format, s.log_level)
    return ensure_jwt_secret(s) if s.dev_mode else s


def _listen(settings: Settings) -> socket.socket:
    """Bind the listening socket before anything starts, so a taken port is one clear line."""
    where = f"{settings.host}:{settings.port}"
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.host, settings.port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise SettingsError(
                f"cannot listen on {where}: the port is already in use (another im serve?);"
                f" stop that process or choose another port: --port {settings.port + 1}"
                " (or IM_PORT)"
            ) from None
        raise SettingsError(
            f"cannot listen on {where}: {exc.strerror}; check --host/IM_HOST and --port/IM_PORT"
        ) from None
    sock.listen(2048)
    return sock


def _serve(settings: Settings, sides: tuple[str, ...], inline: bool, process: str) -> None:
    import uvicorn

    from gateway.app import VERSION, create_app
    from gateway.serving import guarded_protocol

    sock = _listen(settings)
    app = create_app(settings, sides=sides, inline_projector=inline)
    roles = list(sides) + (["projector"] if inline else [])
    if inline and settings.amqp_url:
        roles.append("relay")
    if "queries" in sides:
        roles.append("websocket")
    config = uvicorn.Config(
        app,
        http=guarded_protocol(settings.header_timeout_seconds),
        log_config=None,  # ours (gateway.logs): one format for every line
        ws_ping_interval=None,
        ws_per_message_deflate=settings.ws_per_message_deflate,
        ws_max_size=settings.ws_max_frame_bytes,
        timeout_keep_alive=75,
        # Behind the front proxy: the client's address and scheme come from X-Forwarded-For /
        # -Proto, believed only from these addresses (anyone else could choose their address).
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )
    started = time.monotonic()
    url = f"http://{settings.host}:{settings.port}"

    def on_started() -> None:
        logs.startup_summary(settings, process, VERSION, roles)
        log.info(
            "serving on %s (docs at %s/docs)",
            url,
            url,
            extra={"fields": {"event": "serving", "url": url}, "short": f"serving on {url}"},
        )

    def on_stopped() -> None:
        uptime = time.monotonic() - started
        log.info(
            "stopped cleanly after %.1f s",
            uptime,
            extra={"fields": {"event": "stopped", "uptime_s": round(uptime, 1)}},
        )

    _server_class()(config, on_started, on_stopped).run(sockets=[sock])


def _server_class() -> type[Any]:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, telling us when it is listening and when it has stopped."""

        def __init__(
            self, config: uvicorn.Config, started: Callable[[], None], stopped: Callable[[], None]
        ) -> None:
            super().__init__(config)
            self._started = started
            self._stopped = stopped

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if not self.should_exit:
                self._started()

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            await super().shutdown(sockets)
            self._stopped()

    return Server


def cmd_serve(args: argparse.Namespace) -> None:
    _serve(_settings(args), ("commands", "queries"), True, "im serve")


def cmd_commands(args: argparse.Namespace) -> None:
    _serve(_settings(args), ("commands",), False, "im commands")


def cmd_queries(args: argparse.Namespace) -> None:
    _serve(_settings(args), ("queries",), False, "im queries")


def cmd_projector(args: argparse.Namespace) -> None:
    from gateway.app import VERSION, Process

    settings = _settings(args)

    async def run() -> None:
        svc = Process(settings, inline_projector=True)
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        started = time.monotonic()
        await svc.start()
        logs.startup_summary(settings, "im projector", VERSION, ["projector"])
        log.info("projector running; Ctrl-C stops it")
        try:
            await stop.wait()
        finally:
            await svc.stop()
            log.info("stopped cleanly after %.1f s", time.monotonic() - started)

    asyncio.run(run())


def cmd_relay(args: argparse.Namespace) -> None:
    settings = _settings(args)
    if not settings.amqp_url:
        raise SettingsError("im relay needs IM_AMQP_URL (amqp://user:password@host:5672/vhost)")
    from gateway.app import VERSION, Process

    async def run() -> None:
        svc = Process(settings, inline_projector=False, cascade=True)
        assert svc.cascade is not None
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        started = time.monotonic()
        await svc.cascade.start()
        logs.startup_summary(settings, "im relay", VERSION, ["relay"])
        log.info(
            "relay publishing to exchange %r, partner queue %r; Ctrl-C stops it",
            settings.amqp_exchange,
            settings.amqp_partner_queue,
        )
        try:
            await stop.wait()
        finally:
            await svc.stop()
            log.info("stopped cleanly after %.1f s", time.monotonic() - started)

    try:
        import uvloop  # the relay is CPU-bound on the AMQP client: a faster loop helps

        uvloop.run(run())
    except ImportError:
        asyncio.run(run())


def cmd_doctor(args: argparse.Namespace) -> None:
    from gateway.doctor import report, run_checks

    settings = load_settings()  # not _settings: the doctor never creates a JWT secret
    logs.configure(settings.log_format, "warning")
    text, problems = report(asyncio.run(run_checks(settings)))
    print(text)
    if problems:
        sys.exit(1)


# (name, port, start command, install command, seconds to wait for it)
TEST_SERVICES = [
    (
        "RabbitMQ",
        5672,
        ["rabbitmq-server", "-detached"],
        "sudo apt-get install rabbitmq-server",
        90,
    ),
    (
        "Redis",
        6379,
        ["redis-server", "--daemonize", "yes"],
        "sudo apt-get install redis-server",
        15,
    ),
]


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def ensure_service(name: str, port: int, start: list[str], install: str, wait: float) -> str | None:
    """Start a local service the tests use when it is installed but down. None when it is up;
    otherwise the one line that says what to do."""
    if _port_open(port):
        return None
    if shutil.which(start[0]) is None:
        return (
            f"im test: {name} is not running on 127.0.0.1:{port} and not installed;"
            f" install it with: {install}"
        )
    print(f"im test: starting {name} ({' '.join(start)})", file=sys.stderr, flush=True)
    subprocess.run(start, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if _port_open(port):
            return None
        time.sleep(0.25)
    return (
        f"im test: {name} did not start listening on 127.0.0.1:{port} within {wait:g} s"
        f" (`{' '.join(start)}`); start it by hand and run ./im test again"
    )


def run_tests(pytest_args: list[str]) -> None:
    """ruff, ruff format --check, mypy --strict, import contracts, then pytest (extra args)."""
    missing = [m for m in (ensure_service(*svc) for svc in TEST_SERVICES) if m]
    for line in missing:
        print(line, file=sys.stderr)
    if missing:
        sys.exit(2)
    bin_dir = Path(sys.executable).parent
    steps: list[tuple[str, list[str]]] = [
        ("ruff", [str(bin_dir / "ruff"), "check", "."]),
        ("ruff format", [str(bin_dir / "ruff"), "format", "--check", "."]),
        ("mypy --strict", [str(bin_dir / "mypy")]),
        ("import contracts", [str(bin_dir / "lint-imports")]),
    ]
    for title, cmd in steps:
        print(f"== {title}", flush=True)
        if subprocess.run(cmd, check=False).returncode != 0:
            sys.exit(1)
    print("== pytest", flush=True)
    os.environ.setdefault("HYPOTHESIS_PROFILE", "ci")  # derandomised (tests/conftest.py)
    os.execv(bin_dir / "pytest", [str(bin_dir / "pytest"), *pytest_args])


def run_bench(bench_args: list[str]) -> None:
    """``bench.suite`` from this checkout (bench/ is not an installed package)."""
    root = Path(__file__).resolve().parents[1]
    if not (root / "bench" / "suite.py").is_file():
        print(
            f"im bench: no bench/suite.py under {root}; run it from a source checkout",
            file=sys.stderr,
        )
        sys.exit(2)
    os.chdir(root)
    os.execv(sys.executable, [sys.executable, "-m", "bench.suite", *bench_args])


def cmd_partner_token(args: argparse.Namespace) -> None:
    settings = _settings(args)
    if not settings.partner_jwt_secret:
        raise SettingsError("set IM_PARTNER_JWT_SECRET (32+ characters) to mint partner tokens")
    from gateway.partners import issue_partner_token

    print(issue_partner_token(args.name, settings.partner_jwt_secret, args.days))


def cmd_rebuild(args: argparse.Namespace) -> None:
    from gateway.app import Process

    async def run() -> None:
        svc = Process(_settings(args), inline_projector=False)
        projector = svc.queries.projector
        head = await svc.commands.events.head()
        started = time.perf_counter()
        done = 0

        def progress(n: int, position: int) -> None:
            nonlocal done
            done += n
            elapsed = time.perf_counter() - started
            pct = 100.0 * position / head if head else 100.0
            bar = "#" * int(pct / 4)
            sys.stderr.write(
                f"\rrebuild [{bar:<25}] {pct:5.1f}%  {done:,} events  {done / elapsed:,.0f}/s"
            )
            sys.stderr.flush()

        projector.on_batch = progress
        await projector.rebuild()
        elapsed = time.perf_counter() - started
        sys.stderr.write("\n")
        rate = done / elapsed if elapsed > 0 else 0.0
        print(f"rebuilt {done:,} events in {elapsed:.2f}s ({rate:,.0f} events/s)")
        await svc.stop()

    asyncio.run(run())


def cmd_create_superuser(args: argparse.Namespace) -> None:
    from commands.users import RegisterUser, SetSuperuser
    from gateway.app import Process

    password = args.password or getpass.getpass("password: ")

    async def run() -> None:
        svc = Process(_settings(args), inline_projector=False)
        users = svc.commands.users
        try:
            owner, _ = await users.owner_of(args.standard_id)
            if owner is not None:
                await users.set_superuser(SetSuperuser(owner))
                print(f"user {args.standard_id} (id {owner}) is now a superuser")
            else:
                event, _ = await users.register_user(
                    RegisterUser(args.standard_id, args.name or args.standard_id, password, True)
                )
                print(f"created superuser {args.standard_id} (id {event.user_id})")
        finally:
            await svc.stop()

    asyncio.run(run())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="im", description="Instant-messaging server")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, fn, text in [
        ("serve", cmd_serve, "everything in one process (embedded default)"),
        ("commands", cmd_commands, "the write HTTP process of the split deployment"),
        ("queries", cmd_queries, "the read HTTP + WebSocket process of the split deployment"),
    ]:
        p = sub.add_parser(name, help=text)
        p.add_argument("--host")
        p.add_argument("--port", type=int)
        p.set_defaults(fn=fn)
    sub.add_parser("projector", help="run the projector alone").set_defaults(fn=cmd_projector)
    sub.add_parser(
        "doctor",
        help="check the configured event store, read store, broker, Redis, blob folder and port",
    ).set_defaults(fn=cmd_doctor)
    test = sub.add_parser(
        "test",
        help="ruff, mypy --strict, import contracts, then pytest (starts RabbitMQ and Redis"
        " when installed but down); extra arguments go to pytest",
    )
    test.add_argument("pytest_args", nargs="*", help="passed to pytest")
    bench = sub.add_parser(
        "bench",
        help="benchmarks next to the machine's ceilings, one table and a JSON record in"
        " bench/results/ (im bench --help for its options)",
    )
    bench.add_argument("bench_args", nargs="*", help="passed to bench.suite")
    sub.add_parser(
        "relay", help="publish events to RabbitMQ and consume the partner user queue"
    ).set_defaults(fn=cmd_relay)
    sub.add_parser("rebuild", help="replay every event into fresh read models").set_defaults(
        fn=cmd_rebuild
    )
    admin = sub.add_parser("admin", help="administration").add_subparsers(
        dest="admin", required=True
    )
    su = admin.add_parser("create-superuser", help="create a superuser or promote a user")
    su.add_argument("standard_id")
    su.add_argument("--name")
    su.add_argument("--password", help="prompted for when omitted")
    su.set_defaults(fn=cmd_create_superuser)
    pt = admin.add_parser("partner-token", help="mint a partner JWT for /cascade")
    pt.add_argument("name", help="the partner's name (the token's sub)")
    pt.add_argument("--days", type=float, default=365.0, help="lifetime in days")
    pt.set_defaults(fn=cmd_partner_token)
    from gateway.audit_cli import register

    register(sub, admin, _settings)
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["test"]:  # everything after ``test`` is pytest's, options included
        run_tests(argv[1:])
        return
    if argv[:1] == ["bench"]:  # its options are bench.suite's
        run_bench(argv[1:])
        return
    args = parser.parse_args(argv)
    logs.configure()  # until the command's settings name the format and level
    try:
        args.fn(args)
    except SettingsError as exc:
        print(f"im: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
