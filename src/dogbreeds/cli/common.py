"""What the commands share: option groups defined once (argparse parent parsers), argument types, help layout.

Parents are built by functions, not at import, because their help texts are translated into the language chosen
when ``main`` starts.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from dogbreeds.core.i18n import _

# spelled out (not imported from inference) so the CLI starts without NumPy
BACKENDS = ("auto", "onnx", "openvino", "torch")
PRECISIONS = ("auto", "fp32", "bf16", "int8")
SORT_MODES = ("copy", "hardlink", "symlink")
VERDICT_CHOICES = ("dog", "unsure", "other_breed", "not_a_dog", "unreadable")  # core.verdicts.VERDICTS


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the examples' line breaks and appends each option's default, in the user's language."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        help_text = action.help or ""
        default = action.default
        shown = default not in (None, False, True, argparse.SUPPRESS) and default != []
        if shown and action.option_strings and "%(default)" not in help_text and action.nargs != 0:
            help_text += " " + _("(default: %(default)s)")
        return help_text


def command(
    sub: argparse._SubParsersAction,
    name: str,
    *,
    help: str,
    examples: Sequence[str],
    run: Callable[[argparse.Namespace], int],
    parents: Sequence[argparse.ArgumentParser] = (),
) -> argparse.ArgumentParser:
    """A subcommand whose ``--help`` ends with examples; ``run(args)`` returns the exit code."""
    epilog = _("examples:") + "\n" + "\n".join(f"  {line}" for line in examples)
    parser = sub.add_parser(
        name, help=help, description=help, epilog=epilog, parents=list(parents), formatter_class=HelpFormatter
    )
    parser.set_defaults(func=run)
    return parser


def command_group(sub: argparse._SubParsersAction, name: str, *, help: str) -> argparse._SubParsersAction:
    """A command with sub-commands of its own (``dogbreeds data summary``, ``corrections export``, ``users add``):
    one of them must be given."""
    group = sub.add_parser(name, help=help, description=help)
    return group.add_subparsers(dest=f"{name}_command", required=True, metavar=_("COMMAND"))


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1 (``--top-k 0`` or ``--batch-size 0`` is refused at once)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(_("{text!r} is not a whole number", text=text)) from None
    if value < 1:
        raise argparse.ArgumentTypeError(_("must be at least 1, not {value}", value=value))
    return value


def probability(text: str) -> float:
    """An argparse type: a number between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(_("{text!r} is not a number", text=text)) from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(_("must be between 0 and 1, not {value}", value=value))
    return value


def _parent() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(add_help=False)


def model_options(*, runtimes: bool = True) -> argparse.ArgumentParser:
    """``--model`` and, for the commands that run it, ``--backend`` / ``--precision``."""
    p = _parent()
    g = p.add_argument_group(_("model"))
    g.add_argument(
        "--model", help=_("checkpoint folder or .onnx file with its .json card (default: the shipped model)")
    )
    if runtimes:
        g.add_argument(
            "--backend",
            choices=BACKENDS,
            default="auto",
            help=_(
                "inference runtime: OpenVINO (auto: when installed, as it is by default), ONNX Runtime, or PyTorch "
                "(a checkpoint folder; the [train] extra)"
            ),
        )
        g.add_argument(
            "--precision",
            choices=PRECISIONS,
            default="auto",
            help=_(
                "auto: the shipped model's int8 copy on OpenVINO, fp32 otherwise; fp32: the full-precision model; "
                "int8: the shipped model's int8 copy (onnx or openvino); bf16: bfloat16 arithmetic with --backend "
                "openvino or torch, on CPUs that have it"
            ),
        )
    return p


def batch_options(default: int = 64) -> argparse.ArgumentParser:  # core.parallel.BATCH_SIZE, spelled out
    p = _parent()
    p.add_argument("--batch-size", type=positive_int, default=default, help=_("photos per model call"))
    return p


def catalog_options(*, writes: bool = False) -> argparse.ArgumentParser:
    """``--db``: the catalog database."""
    p = _parent()
    if writes:
        text = _("catalog: a SQLite file (created when missing) or an SQLAlchemy URL such as postgresql://...")
    else:
        text = _("catalog: a SQLite file or an SQLAlchemy URL (it must exist; it is opened read-only)")
    p.add_argument("--db", default="dogbreeds.db", help=text)
    return p


def data_options(
    *, required: bool = True, default_split: str | None = None, limit: bool = True
) -> argparse.ArgumentParser:
    """``--data`` / ``--split`` / ``--images``: a Stanford Dogs folder or a folder-per-breed tree."""
    p = _parent()
    g = p.add_argument_group(_("data"))
    g.add_argument(
        "--data",
        required=required,
        help=_("a Stanford Dogs folder (Images/ or crops224/, lists/) or a folder-per-breed tree"),
    )
    split_help = _("official list of a Stanford Dogs folder")
    if default_split:
        split_help += " " + _("(default there: {split})", split=default_split)
    g.add_argument("--split", choices=["train", "test"], help=split_help)
    g.add_argument(
        "--images", help=_("Stanford Dogs image folder to use: Images or crops224 (default: whichever exists)")
    )
    if limit:
        g.add_argument(
            "--limit-per-class", type=positive_int, help=_("use the first N photos of each breed (quick runs)")
        )
    return p


def tracking_options() -> argparse.ArgumentParser:
    p = _parent()
    g = p.add_argument_group(_("tracking"))
    g.add_argument("--no-track", dest="track", action="store_false", default=None, help=_("do not log to MLflow"))
    g.add_argument("--tracking-uri", help=_("MLflow tracking URI (default: sqlite:///runs/mlflow.db)"))
    return p


def out_path(p: argparse.ArgumentParser, help: str, *, required: bool = False, default: Any = None) -> None:
    """``--out``: every command's output file or folder, as a Path."""
    p.add_argument("--out", type=Path, required=required, default=default, help=help)
