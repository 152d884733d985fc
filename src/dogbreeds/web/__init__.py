"""The volunteers' web app, ``dogbreeds serve``: identify a photo, browse the library, read the statistics.

Server-rendered pages (Jinja2) with a few lines of local JavaScript at most, and a JSON API beside them, both over
the same library functions as the command line (one :class:`~dogbreeds.inference.predictor.Predictor`, the
catalog's own queries, :mod:`dogbreeds.catalog.stats` and :mod:`dogbreeds.catalog.export`). Everything it serves
comes from the package itself, so it works on a shelter's computer without the internet. Like the rest of the
inference side, it never imports the training stack. This package needs the ``[web]`` extra; importing
:mod:`dogbreeds.web.app` without it raises ``ModuleNotFoundError`` for fastapi, which the CLI turns into the
``pip install`` to run.
"""
