"""Errors a user can act on. The CLI prints them as one line (exit code 2); anything else is a bug in dogbreeds.

Each subclasses the built-in error a caller of the library would expect (``ValueError``, ``FileNotFoundError``...), so
library users can catch them either way; messages are written through :func:`dogbreeds.core.i18n._`.
"""

from __future__ import annotations


class DogbreedsError(Exception):
    """A problem with the user's input, files or set-up, explained in one line."""


class UsageError(DogbreedsError, ValueError):
    """An option, a setting or an argument that cannot be used as given."""


class NotFoundError(DogbreedsError, FileNotFoundError):
    """A file, folder or model the user named that does not exist."""


class MissingExtraError(DogbreedsError, ModuleNotFoundError):
    """A feature whose optional dependencies are not installed; the message names the ``pip install``."""


class CatalogError(DogbreedsError):
    """The catalog database cannot be opened, read or written (locked, full, read-only, foreign, too new...)."""


class ModelCardError(DogbreedsError, ValueError):
    """A model card that is missing, malformed, inconsistent with its model, or from a newer dogbreeds."""


def missing_extra(package: str, extra: str, what: str) -> MissingExtraError:
    """The error for an optional dependency that is not installed."""
    from dogbreeds.core.i18n import _

    return MissingExtraError(
        _("{what} needs {package}: pip install 'dogbreeds[{extra}]'", what=what, package=package, extra=extra)
    )


# The optional packages and the extra that brings each, for a command that reaches one the install lacks.
EXTRA_OF_PACKAGE = {
    "torch": "train",
    "torchvision": "train",
    "timm": "train",
    "onnx": "train",
    "safetensors": "train",
    "scipy": "train",
    "pyarrow": "train",
    "matplotlib": "train",
    "mlflow": "train",
    "optuna": "train",
    "yaml": "train",
    "openvino": "openvino",
    "nncf": "quantize",
    "psycopg": "postgres",
    "pillow_heif": "heic",
    "fastapi": "web",
    "starlette": "web",
    "uvicorn": "web",
    "jinja2": "web",
    "multipart": "web",  # python-multipart, under its old and new module names
    "python_multipart": "web",
}


def extra_for(err: ModuleNotFoundError) -> MissingExtraError | None:
    """The user-facing error for an optional package that is missing, or None when ``err`` is a real bug."""
    from dogbreeds.core.i18n import _

    package = (err.name or "").split(".")[0]
    extra = EXTRA_OF_PACKAGE.get(package)
    if extra is None:
        return None
    return MissingExtraError(
        _(
            "this command needs {package}, which is not installed: pip install 'dogbreeds[{extra}]'",
            package=package,
            extra=extra,
        )
    )
