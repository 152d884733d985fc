"""The ``dogbreeds`` command line: one entry point, a module per group of subcommands.

Only this package parses arguments; each subcommand calls a library function. Heavy libraries (torch, timm,
mlflow) are imported inside the commands that need them, so ``dogbreeds predict`` starts in a fraction of a second.

Errors: a :class:`~dogbreeds.core.errors.DogbreedsError` (the user's input or set-up) and an ``OSError`` (disk full,
permission denied...) are one line on stderr and exit code 2; Ctrl-C is one line and exit code 130; anything
else is a bug: one line asking for ``-v``, exit code 3, and its traceback with ``-v``.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import sys
from collections.abc import Sequence

from dogbreeds import __version__
from dogbreeds.cli import catalog, data, evaluation, models, predict, training, web
from dogbreeds.cli.common import HelpFormatter
from dogbreeds.core.errors import DogbreedsError, extra_for
from dogbreeds.core.i18n import LANGUAGES, _, set_language

EXIT_USER_ERROR, EXIT_BUG, EXIT_INTERRUPTED = 2, 3, 130
GROUPS = (predict, catalog, evaluation, training, data, models, web)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dogbreeds",
        description=_("Sort dog photos by breed (120 Stanford Dogs breeds), with probabilities you can trust."),
        epilog=_("Run 'dogbreeds COMMAND --help' for a command's options and examples."),
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"dogbreeds {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help=_("log what is going on; show tracebacks"))
    parser.add_argument("--lang", choices=LANGUAGES, help=_("language of messages (default: the system's)"))
    sub = parser.add_subparsers(dest="command", required=True, metavar=_("COMMAND"))
    for group in GROUPS:
        group.add_commands(sub)
    return parser


def _language_in(argv: Sequence[str]) -> str | None:
    """``--lang`` read before the parser is built, since its help texts are written in that language."""
    for i, arg in enumerate(argv):
        if arg == "--lang" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--lang="):
            return arg.split("=", 1)[1]
    return None


def _translate_argparse() -> None:
    """argparse's own words ("usage:", "error:", "the following arguments are required") through our catalogue."""
    from dogbreeds.core import i18n

    argparse._ = lambda message: i18n._(message)  # type: ignore[attr-defined]
    argparse.ngettext = lambda s, p, n: i18n._translations(i18n.current_language()).ngettext(s, p, n)  # type: ignore[attr-defined]


def describe_os_error(err: OSError) -> str:
    """One line for an error of the file system or the system: what happened, and to which path."""
    what = {
        errno.ENOSPC: _("disk full"),
        errno.EDQUOT: _("disk quota exceeded"),
        errno.EACCES: _("permission denied"),
        errno.EPERM: _("operation not permitted"),
        errno.EROFS: _("read-only file system"),
        errno.ENOENT: _("no such file or folder"),
        errno.EISDIR: _("is a folder"),
        errno.ENOTDIR: _("not a folder"),
    }.get(err.errno or 0, err.strerror or str(err))
    where = err.filename if err.filename is not None else ""
    where = os.fsdecode(where) if isinstance(where, bytes) else str(where)
    return f"{what}: {where}" if where else what


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    set_language(_language_in(argv))
    _translate_argparse()
    args = build_parser().parse_args(argv)
    set_language(args.lang)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    if not args.verbose:
        logging.getLogger("dogbreeds").setLevel(logging.WARNING)
    prefix = f"dogbreeds {args.command}"
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print(f"\n{prefix}: " + _("stopped"), file=sys.stderr)
        return EXIT_INTERRUPTED
    except DogbreedsError as err:
        if args.verbose:
            logging.exception("details")
        print(f"{prefix}: " + _("error: {message}", message=err), file=sys.stderr)
        return EXIT_USER_ERROR
    except OSError as err:
        if args.verbose:
            logging.exception("details")
        print(f"{prefix}: " + _("error: {message}", message=describe_os_error(err)), file=sys.stderr)
        return EXIT_USER_ERROR
    except ModuleNotFoundError as err:
        missing = extra_for(err)
        if missing is None:
            return _internal_error(prefix, err, args.verbose)
        if args.verbose:
            logging.exception("details")
        print(f"{prefix}: " + _("error: {message}", message=missing), file=sys.stderr)
        return EXIT_USER_ERROR
    except Exception as err:  # a bug: never a traceback unless asked for
        return _internal_error(prefix, err, args.verbose)


def _internal_error(prefix: str, err: Exception, verbose: bool) -> int:
    """A bug: one line asking for -v, or the traceback with -v."""
    if verbose:
        raise err
    message = _(
        "internal error ({kind}: {message}); please run it again with -v and report what it prints",
        kind=type(err).__name__,
        message=str(err).splitlines()[0] if str(err) else "",
    )
    print(f"{prefix}: {message}", file=sys.stderr)
    return EXIT_BUG


if __name__ == "__main__":
    sys.exit(main())
