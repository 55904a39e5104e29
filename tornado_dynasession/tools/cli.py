"""The command line.

``python -m tornado_dynasession create-table --table NAME [--layout connect-dynamodb|express-dynamodb] [...]``:
create the session table.
``python -m tornado_dynasession local [--port N] [--table NAME] [--path DIR]``: run DynamoDB locally.
``python -m tornado_dynasession doctor --table NAME [...]``: check a session table's health (exit 1: a fix is due).
``python -m tornado_dynasession sessions list|revoke --table NAME --user ID``: a user's sessions; sign them out.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import shutil
import signal
import socket
import sys
import time
from pathlib import Path
from types import FrameType
from typing import NoReturn

from ..backends import AttributeNames, ClientOptions
from ..layouts import LAYOUTS
from ..store import DynamoDBStore, endpoint_from_env
from .cli_errors import FAILURE, USAGE, CliError, check_endpoint, report
from .doctor import diagnose, summary
from .local import DYNALITE_VERSION, DynaliteServer, LocalServer, LocalServerError, MotoServer, find_dynalite
from .tables import TableSetup, create_table

LOCAL_PORT = 8001
USER_INDEX = "UserIndex"

LOCAL_HELP = f"""\
Run a DynamoDB-compatible server on 127.0.0.1 for development: dynalite (npm; `npm ci` in the checkout, or
`npm install dynalite@{DYNALITE_VERSION}` and DYNALITE_PATH=.../node_modules/dynalite/cli.js), or, without Node or
dynalite, moto's server (pip install "tornado_dynasession[local]"; in memory only). It prints the
`export DYNAMODB_ENDPOINT=...` line to paste into the shell that runs your app; Ctrl-C or SIGTERM stops it.
The default port is {LOCAL_PORT}, not 8000: 8000 is Sanic's default port (and a common one for dev servers),
so the app and its database would collide.
"""

LAYOUT_HELP = (
    "the table an express-session store writes, as DynamoDBStore(layout=...): connect-dynamodb (hash key id, TTL "
    "on expires) or express-dynamodb (hash key SessionID, TTL on Expires)"
)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (the cause, and where the help is), exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m tornado_dynasession", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser(
        "create-table", help="create an on-demand session table, wait for ACTIVE, enable TTL on its expiry attribute"
    )
    create.add_argument("--table", required=True, help="table name")
    create.add_argument("--hash-key", default=None, help="hash key attribute (type S); default SessionID")
    create.add_argument("--layout", choices=sorted(LAYOUTS), default=None, help=LAYOUT_HELP)
    create.add_argument("--endpoint-url", default=None, help="DynamoDB endpoint; default $DYNAMODB_ENDPOINT, then AWS")
    create.add_argument("--region", default=None, help="AWS region")
    create.add_argument(
        "--user-index",
        nargs="?",
        const=USER_INDEX,
        default=None,
        metavar="NAME",
        help=f"also create the user index (default name {USER_INDEX}) for session.user_id and sign out everywhere; "
        "on an existing table, add it and wait until it is built",
    )
    sessions = commands.add_parser("sessions", help="list a user's sessions, or sign them out (needs the user index)")
    actions = sessions.add_subparsers(dest="action", required=True)
    for action, text in (
        ("list", "list the user's live sessions: key, created, expires, label (never data)"),
        ("revoke", "end every session of the user (or only --key)"),
    ):
        sub = actions.add_parser(action, help=text)
        sub.add_argument("--table", required=True, help="table name")
        sub.add_argument("--user", required=True, metavar="ID", help="the user id, as the app set session.user_id")
        if action == "revoke":
            sub.add_argument("--key", default=None, help="end only this session (a key from `sessions list`)")
        sub.add_argument("--user-index", default=USER_INDEX, metavar="NAME", help=f"default {USER_INDEX}")
        sub.add_argument("--hash-key", default="SessionID", help="hash key attribute; default SessionID")
        sub.add_argument(
            "--no-hash-ids", dest="hash_ids", action="store_false", help="the store was built with hash_ids=False"
        )
        sub.add_argument("--endpoint-url", default=None, help="DynamoDB endpoint; default $DYNAMODB_ENDPOINT")
        sub.add_argument("--region", default=None, help="AWS region")
    doctor = commands.add_parser("doctor", help="check a session table: each line ok, or the cause and the fix")
    doctor.add_argument("--table", required=True, help="table name")
    doctor.add_argument("--hash-key", default=None, help="hash key attribute (type S); default SessionID")
    doctor.add_argument("--layout", choices=sorted(LAYOUTS), default=None, help=LAYOUT_HELP)
    doctor.add_argument("--user-index", default=None, metavar="NAME", help="also check this per-user index")
    doctor.add_argument("--endpoint-url", default=None, help="DynamoDB endpoint; default $DYNAMODB_ENDPOINT, then AWS")
    doctor.add_argument("--region", default=None, help="AWS region")
    local = commands.add_parser(
        "local",
        help=f"run dynalite (or moto) on 127.0.0.1:{LOCAL_PORT} for development",
        description=LOCAL_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    local.add_argument(
        "--port",
        type=int,
        default=LOCAL_PORT,
        metavar="N",
        help=f"port on 127.0.0.1; default {LOCAL_PORT} (8000 is Sanic's)",
    )
    local.add_argument("--table", default=None, metavar="NAME", help="create this session table (waits for ACTIVE)")
    local.add_argument("--hash-key", default="SessionID", help="hash key of --table; default SessionID")
    local.add_argument(
        "--user-index",
        nargs="?",
        const=USER_INDEX,
        default=None,
        metavar="NAME",
        help=f"give --table the user index (default name {USER_INDEX}), for sign out everywhere",
    )
    local.add_argument(
        "--path", default=None, metavar="DIR", help="keep the data on disk in DIR (dynalite only); default in memory"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status. A user mistake is one line on stderr; a bug keeps its
    traceback."""
    args = _parser().parse_args(argv)
    endpoint_url: str | None = None
    try:
        if args.command == "local":
            return _local(args)
        check_endpoint(args.endpoint_url, "--endpoint-url")
        if args.endpoint_url is None:
            check_endpoint(endpoint_from_env(), "DYNAMODB_ENDPOINT")
        endpoint_url = args.endpoint_url or endpoint_from_env()
        run = {"doctor": _doctor, "sessions": _sessions, "create-table": _create_table}[args.command]
        return run(args)
    except Exception as exc:
        reported = report(exc, endpoint_url=endpoint_url)
        if reported is None:
            raise
        line, status = reported
        print(f"{args.command}: {line}", file=sys.stderr)
        return status
    except KeyboardInterrupt:
        print(f"{args.command}: interrupted", file=sys.stderr)
        return 130


def _names(args: argparse.Namespace) -> tuple[str, str]:
    """The hash key and the expiry attribute that ``--layout`` and ``--hash-key`` name."""
    if args.layout is None:
        return args.hash_key or "SessionID", "Expires"
    layout = LAYOUTS[args.layout]
    if args.hash_key not in (None, layout.hash_key):
        raise CliError(
            f"--hash-key {args.hash_key} contradicts --layout {layout.name}, whose hash key is {layout.hash_key}: "
            "drop --hash-key"
        )
    return layout.hash_key, layout.expires


def _create_table(args: argparse.Namespace) -> int:
    hash_key, expires_attribute = _names(args)
    setup = asyncio.run(
        create_table(
            args.table,
            hash_key=hash_key,
            expires_attribute=expires_attribute,
            endpoint_url=args.endpoint_url,
            region_name=args.region,
            user_index=args.user_index,
        )
    )
    _print_setup(setup, expires_attribute)
    return 0


def _sessions(args: argparse.Namespace) -> int:
    store = DynamoDBStore(
        args.table,
        names=AttributeNames(hash_key=args.hash_key),
        hash_ids=args.hash_ids,
        user_index=args.user_index,
        endpoint_url=args.endpoint_url,
        options=ClientOptions(region_name=args.region),
    )

    async def run() -> None:
        async with store:
            if args.action == "list":
                listed = await store.list_sessions(args.user)
                print(f"{len(listed)} live session{'' if len(listed) == 1 else 's'} of user {args.user!r}")
                for info in listed:
                    created = "-" if info.created_at is None else _utc(info.created_at)
                    print(
                        f"{info.key}  created {created}  expires {_utc(info.expires_at)}  {info.label or ''}".rstrip()
                    )
            elif args.key is not None:
                ended = await store.revoke(args.key, user_id=args.user)
                print(f"session {args.key} of user {args.user!r}: {'ended' if ended else 'not live, nothing ended'}")
            else:
                count = await store.revoke_user(args.user)
                print(f"ended {count} live session{'' if count == 1 else 's'} of user {args.user!r}")

    asyncio.run(run())
    return 0


def _utc(epoch_seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_seconds))


def _doctor(args: argparse.Namespace) -> int:
    hash_key, _ = _names(args)
    checks = asyncio.run(
        diagnose(
            args.table,
            hash_key=hash_key,
            layout=args.layout,
            user_index=args.user_index,
            endpoint_url=args.endpoint_url,
            region_name=args.region,
        )
    )
    print(*(check.line() for check in checks), summary(checks), sep="\n")
    return FAILURE if any(check.status == "fix" for check in checks) else 0


def _print_setup(setup: TableSetup, expires_attribute: str = "Expires") -> None:
    print(f"table {setup.table!r}: {'created' if setup.created else 'already exists with this key'}, ACTIVE")
    if setup.ttl == "unsupported":
        print(
            "TTL: this server has no TTL API; expired items are still never served "
            f"(the store checks {expires_attribute})"
        )
    else:
        print(f"TTL on {expires_attribute}: {setup.ttl}")
    if setup.user_index is not None:
        print(f"user index: {setup.user_index}, ACTIVE")


# -- local -----------------------------------------------------------------------------------------------------


class _Stop(Exception):
    """SIGTERM, turned into an exception so that the server is stopped on the way out."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def _moto_available() -> bool:
    return importlib.util.find_spec("moto") is not None and importlib.util.find_spec("flask") is not None


def _choose_server(port: int, path: str | None) -> LocalServer:
    """dynalite when Node and dynalite are there; else moto (saying so), unless ``--path`` asks for a disk."""
    missing: str | None = None
    if shutil.which("node") is None:
        missing = "node is not installed"
    elif not os.environ.get("DYNALITE_PATH"):
        try:
            find_dynalite()
        except LocalServerError:
            missing = "dynalite is not installed"
    else:
        try:  # DYNALITE_PATH set: pointing nowhere is a mistake to report, not a reason to fall back
            find_dynalite()
        except LocalServerError as exc:
            raise CliError(str(exc)) from exc
    if missing is None:
        return DynaliteServer(port=port, path=path)
    npm_fix = (
        f"run `npm ci` in the tornado_dynasession checkout, or `npm install dynalite@{DYNALITE_VERSION}` "
        "and set DYNALITE_PATH to its node_modules/dynalite/cli.js"
    )
    if not _moto_available():
        raise CliError(
            f"{missing} and moto is not either: {npm_fix} (needs Node.js 18+), "
            'or pip install "tornado_dynasession[local]" to run moto instead'
        )
    if path is not None:
        raise CliError(f"{missing} and moto keeps everything in memory, so --path cannot work: {npm_fix}")
    print(f"{missing}: starting moto's server instead (in memory, slower; for dynalite, {npm_fix})", flush=True)
    return MotoServer(port=port)


def _check_port_free(port: int) -> None:
    if not 0 < port < 65536:
        raise CliError(f"--port {port} is not a TCP port: pass --port between 1 and 65535")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As servers do (dynalite too): connections of a server stopped a moment ago, still in TIME_WAIT, do not
        # make the port taken; only a socket listening on it does.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            raise CliError(
                f"port {port} on 127.0.0.1 is taken ({exc.strerror}): stop what listens there, or pass --port N"
            ) from exc


def _local(args: argparse.Namespace) -> int:
    _check_port_free(args.port)
    server = _choose_server(args.port, args.path)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        server.start()
        where = f"data in {Path(args.path).resolve()}" if args.path else "in memory"
        print(f"{server.name} on {server.endpoint_url} ({where})", flush=True)
        if args.table:
            setup = asyncio.run(
                create_table(
                    args.table, hash_key=args.hash_key, endpoint_url=server.endpoint_url, user_index=args.user_index
                )
            )
            _print_setup(setup)
        print(f"export DYNAMODB_ENDPOINT={server.endpoint_url}", flush=True)
        print("Ctrl-C (or SIGTERM) stops the server.", flush=True)
        process = server.process
        while process is not None and process.poll() is None:
            time.sleep(0.2)
        if process is not None and process.returncode in (-signal.SIGINT, -signal.SIGTERM, 130, 143):
            # Ctrl-C in a terminal reaches the whole process group: the server may have stopped before we hear it.
            print(f"{server.name} stopped", flush=True)
            return 0
        code = None if process is None else process.returncode
        raise LocalServerError(f"the {server.name} exited on its own (status {code}): run the command again")
    except (KeyboardInterrupt, _Stop):
        server.stop()
        print(f"{server.name} stopped", flush=True)
        return 0
    finally:
        server.stop()
        signal.signal(signal.SIGTERM, previous)
