"""A test app served the way production runs it: in processes of its own, possibly several.

    python -m tests.process_app tornado --port P --table T --endpoint URL [--processes N]
    python -m tests.process_app sanic --port P --table T --endpoint URL [--processes N]

Tornado binds its sockets, forks ``--processes`` children with ``fork_processes`` and creates the store in each
child, serving with :func:`tornado_dynasession.lifecycle.serve_gracefully`. Sanic runs ``app.run(workers=N)``
with the store opened in each worker's ``before_server_start`` and closed in ``after_server_stop``. Both shut down
gracefully on SIGTERM.

Routes, all GET, each answering JSON ``{"pid", "id", "new", "data"}`` (the serving process, then the session after
the handler ran): ``/read``, ``/set?key=K&value=V``, ``/delete?key=K``, ``/login?user=U`` (regenerate, ``user``,
and ``user_id`` when the store has a user index), ``/logout``, ``/remember?seconds=S`` (``max_age``),
``/append?item=X`` (a nested change to ``cart`` with ``mark_modified("cart")``), ``/slow-set?key=K&value=V&seconds=S``,
``/slow-delete?key=K&seconds=S``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import tornado.web
from tornado.netutil import bind_sockets
from tornado.process import fork_processes

from tornado_dynasession import ClientOptions, DynamoDBStore, Session, SessionMixin
from tornado_dynasession.lifecycle import serve_gracefully

SECRET = "process-app-secret-" + "x" * 32
OPTIONS: argparse.Namespace | None = None  # the command line, when run as a program
MAX_AGE = 600.0

Arg = Callable[..., Any]  # the request's query argument getter: arg(name[, default])
Operation = Callable[[Session, Arg], Awaitable[None]]


async def read(session: Session, arg: Arg) -> None:
    """Change nothing."""


async def set_key(session: Session, arg: Arg) -> None:
    session[arg("key")] = arg("value")


async def delete_key(session: Session, arg: Arg) -> None:
    session.pop(arg("key"), None)


async def login(session: Session, arg: Arg) -> None:
    session.regenerate()
    session["user"] = arg("user")
    if OPTIONS is not None and OPTIONS.user_index:
        session.user_id = arg("user")


async def logout(session: Session, arg: Arg) -> None:
    session.invalidate()


async def remember(session: Session, arg: Arg) -> None:
    session.max_age = float(arg("seconds"))


async def append(session: Session, arg: Arg) -> None:
    cart = session.get("cart")
    if not isinstance(cart, list):
        cart = session["cart"] = []
    cart.append(arg("item"))
    session.mark_modified("cart")


async def slow_set(session: Session, arg: Arg) -> None:
    print(f"slow-set begins: {arg('value')}", flush=True)  # tells a test the request is mid-handler
    await asyncio.sleep(float(arg("seconds")))
    await set_key(session, arg)


async def slow_delete(session: Session, arg: Arg) -> None:
    await asyncio.sleep(float(arg("seconds")))
    await delete_key(session, arg)


OPERATIONS: dict[str, Operation] = {
    "read": read,
    "set": set_key,
    "delete": delete_key,
    "login": login,
    "logout": logout,
    "remember": remember,
    "append": append,
    "slow-set": slow_set,
    "slow-delete": slow_delete,
}


def answer(session: Session) -> dict[str, Any]:
    return {"pid": os.getpid(), "id": session.id, "new": session.is_new, "data": dict(session)}


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.process_app")
    parser.add_argument("framework", choices=("tornado", "sanic"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--table", required=True)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--user-index", default=None)
    parser.add_argument("--locking", action="store_true")
    parser.add_argument("--connect-timeout", type=float, default=2.0)
    parser.add_argument("--read-timeout", type=float, default=3.0)
    parser.add_argument("--max-attempts", type=int, default=3)
    return parser.parse_args(argv)


def make_store(options: argparse.Namespace) -> DynamoDBStore:
    """The store, not opened: it creates its client on open(), in the process that serves."""
    return DynamoDBStore(
        options.table,
        endpoint_url=options.endpoint,
        user_index=options.user_index,
        options=ClientOptions(
            connect_timeout=options.connect_timeout,
            read_timeout=options.read_timeout,
            max_attempts=options.max_attempts,
        ),
        telemetry=False,
    )


# -- Tornado ---------------------------------------------------------------------------------------------------


class Operate(SessionMixin, tornado.web.RequestHandler):
    async def get(self, name: str) -> None:
        operation = OPERATIONS.get(name)
        if operation is None:
            raise tornado.web.HTTPError(404)
        await operation(self.session, self.get_argument)
        self.set_header("Content-Type", "application/json")
        self.write(json.dumps(answer(self.session)))


def run_tornado(options: argparse.Namespace) -> None:
    sockets = bind_sockets(options.port, "127.0.0.1")
    if options.processes > 1:
        fork_processes(options.processes, max_restarts=0)  # the parent waits here; each child returns
    asyncio.run(serve_tornado(sockets, options))


async def serve_tornado(sockets: list[Any], options: argparse.Namespace) -> None:
    store = make_store(options)  # after the fork: each child has its own client and connection pool
    app = tornado.web.Application(
        [(r"/([\w-]+)", Operate)],
        session_store=store,
        cookie_secret=SECRET,
        session_max_age=MAX_AGE,
        session_locking=options.locking,
    )
    await serve_gracefully(app, sockets, started=lambda server: print(f"serving: {os.getpid()}", flush=True))
    print(f"stopped: {os.getpid()}", flush=True)


# -- Sanic -----------------------------------------------------------------------------------------------------


def build_sanic(options: argparse.Namespace) -> Any:
    from sanic import Request, Sanic
    from sanic.response import HTTPResponse
    from sanic.response import json as json_response

    from tornado_dynasession.sanic import Sessions

    app = Sanic("process_app")
    app.config.ACCESS_LOG = False
    app.config.MOTD = False
    store = make_store(options)  # a new object in each worker: spawned workers import this module again
    Sessions(app, store=store, secret=SECRET, max_age=MAX_AGE, locking=options.locking)

    @app.before_server_start
    async def open_store(app: Sanic) -> None:  # type: ignore[type-arg]
        await store.open()

    @app.after_server_start
    async def serving(app: Sanic) -> None:  # type: ignore[type-arg]
        print(f"serving: {os.getpid()}", flush=True)

    @app.after_server_stop
    async def close_store(app: Sanic) -> None:  # type: ignore[type-arg]
        await store.close()
        print(f"stopped: {os.getpid()}", flush=True)

    @app.get("/<name>")
    async def operate(request: Request, name: str) -> HTTPResponse:
        operation = OPERATIONS.get(name)
        if operation is None:
            return json_response({"error": "no such route"}, status=404)
        await operation(request.ctx.session, request.args.get)
        return json_response(answer(request.ctx.session))

    return app


if __name__ in ("__main__", "__mp_main__"):  # the program, or a Sanic worker importing it again
    OPTIONS = parse(sys.argv[1:])
    if OPTIONS.framework == "sanic":
        app = build_sanic(OPTIONS)

if __name__ == "__main__":
    if OPTIONS.framework == "tornado":
        run_tornado(OPTIONS)
    else:
        app.run(host="127.0.0.1", port=OPTIONS.port, workers=OPTIONS.processes, access_log=False)
