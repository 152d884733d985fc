"""``dogbreeds serve``: the volunteers' web app (identify a photo, browse the library, stats), in a browser."""

from __future__ import annotations

import argparse
from pathlib import Path

from dogbreeds.cli.common import command, model_options, positive_int
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
    p.add_argument("--cache", type=Path, help=_("thumbnail folder (default ~/.cache/dogbreeds/thumbs)"))


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn  # the [web] extra: without it, main() prints the pip install to run

    from dogbreeds.web.app import create_app
    from dogbreeds.web.settings import MB, WebSettings, default_cache

    settings = WebSettings(
        db=args.db, model=args.model, backend=args.backend, precision=args.precision, library=args.library,
        cache=args.cache or default_cache(), max_upload_bytes=args.max_upload_mb * MB,
    )  # fmt: skip
    app = create_app(settings)
    print(_("dogbreeds is at http://{host}:{port}/ (Ctrl-C stops it)", host=args.host, port=args.port), flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", server_header=False)
    return 0
