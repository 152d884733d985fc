"""``dogbreeds serve``: the volunteers' web app (identify a photo, browse the library, stats), in a browser."""

from __future__ import annotations

import argparse
from pathlib import Path

from dogbreeds.cli.common import catalog_options, command, command_group, model_options, positive_int
from dogbreeds.core.i18n import _

DEFAULT_PORT = 8000


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = command(
        sub,
        "serve",
        help=_("serve the web app for volunteers: identify a photo, browse the library, see the stats"),
        examples=[
            "dogbreeds serve --db catalog.db",
            "dogbreeds serve --db catalog.db --library /photos/shelter --host 0.0.0.0 --port 8080",
            "dogbreeds serve   # only Identify, without a catalog",
        ],
        run=run_serve,
        parents=[model_options()],
    )
    # not catalog_options(): its default (dogbreeds.db here) would make a missing file an error, and a server
    # for Identify alone needs no catalog
    p.add_argument("--db", help=_("catalog to browse: a SQLite file or an SQLAlchemy URL, opened read-only "
                                  "(default: none, only Identify)"))  # fmt: skip
    p.add_argument("--library", type=Path, help=_("the photo library's folder: photos are named relative to it and "
                                                  "only photos inside it are shown"))  # fmt: skip
    p.add_argument("--host", default="127.0.0.1", help=_("address to listen on (0.0.0.0: every network)"))
    p.add_argument("--port", type=positive_int, default=DEFAULT_PORT, help=_("port to listen on"))
    p.add_argument("--max-upload-mb", type=positive_int, default=20, help=_("largest photo accepted, in MB"))
    p.add_argument("--max-batch-mb", type=positive_int, default=500,
                   help=_("most that 'add photos' takes at once, in MB"))  # fmt: skip
    p.add_argument("--cache", type=Path, help=_("thumbnail folder (default ~/.cache/dogbreeds/thumbs)"))

    usub = command_group(sub, "users", help=_("the volunteers who may change the catalog from the web app"))
    p = command(
        usub,
        "add",
        help=_("add a volunteer (the password is asked twice; from a pipe, read from its first line)"),
        examples=["dogbreeds users add Camille --db catalog.db", "dogbreeds users add Sam --admin --db catalog.db"],
        run=run_users_add,
        parents=[catalog_options(writes=True)],
    )
    p.add_argument("name", metavar="NAME", help=_("the name they log in with"))
    p.add_argument("--admin", action="store_true", help=_("an administrator (else a volunteer)"))
    p.add_argument("--reset", action="store_true", help=_("set a new password (and role) for a known volunteer"))
    command(usub, "list", help=_("list the volunteers"), examples=["dogbreeds users list --db catalog.db"],
            run=run_users_list, parents=[catalog_options()])  # fmt: skip
    p = command(usub, "remove", help=_("remove a volunteer (their past decisions stay, under their name)"),
                examples=["dogbreeds users remove Camille --db catalog.db"], run=run_users_remove,
                parents=[catalog_options(writes=True)])  # fmt: skip
    p.add_argument("name", metavar="NAME", help=_("the volunteer's name"))


def _read_password() -> str:
    import getpass
    import sys

    from dogbreeds.core.errors import UsageError

    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(_("password: "))
    if getpass.getpass(_("the same password again: ")) != first:
        raise UsageError(_("the two passwords differ: nothing was changed"))
    return first


def run_users_add(args: argparse.Namespace) -> int:
    from dogbreeds.catalog.database import open_catalog
    from dogbreeds.catalog.users import add_user, clean_name

    name = clean_name(args.name)  # a bad name is refused before the password is asked for
    engine = open_catalog(args.db)
    password = _read_password()
    user = add_user(engine, name, password, role="admin" if args.admin else "volunteer", replace=args.reset)
    role = _("administrator") if user.is_admin else _("volunteer")
    print(_("{name} may now log in to the web app ({role})", name=user.name, role=role))
    return 0


def run_users_list(args: argparse.Namespace) -> int:
    from dogbreeds.catalog.database import open_catalog
    from dogbreeds.catalog.users import list_users

    found = list_users(open_catalog(args.db, readonly=True))
    for user in found:
        print(f"{user.name}\t{user.role}")
    if not found:
        print(_("no volunteers yet: dogbreeds users add NAME"))
    return 0


def run_users_remove(args: argparse.Namespace) -> int:
    from dogbreeds.catalog.database import open_catalog
    from dogbreeds.catalog.users import remove_user
    from dogbreeds.core.errors import NotFoundError

    if not remove_user(open_catalog(args.db), args.name):
        raise NotFoundError(_("no volunteer is called {name}", name=args.name))
    print(_("{name} can no longer log in", name=args.name))
    return 0


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn  # the [web] extra: without it, main() prints the pip install to run

    from dogbreeds.web.app import create_app
    from dogbreeds.web.settings import MB, WebSettings, default_cache

    settings = WebSettings(
        db=args.db, model=args.model, backend=args.backend, precision=args.precision, library=args.library,
        cache=args.cache or default_cache(), max_upload_bytes=args.max_upload_mb * MB,
        max_batch_bytes=args.max_batch_mb * MB,
    )  # fmt: skip
    app = create_app(settings)
    print(_("dogbreeds is at http://{host}:{port}/ (Ctrl-C stops it)", host=args.host, port=args.port), flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", server_header=False)
    return 0
