"""``dogbreeds predict``: the breed of a few photos, as a sentence, a table or JSON."""

from __future__ import annotations

import argparse
import json
import sys

from dogbreeds.cli.common import batch_options, command, model_options, positive_int
from dogbreeds.core.i18n import _


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = command(
        sub,
        "predict",
        help=_("name the breed of photos (folders are walked)"),
        examples=[
            "dogbreeds predict photo.jpg",
            "dogbreeds predict ~/Pictures/shelter --top-k 5",
            "dogbreeds predict photos/ --json > predictions.json",
        ],
        run=run_predict,
        parents=[model_options(), batch_options()],
    )
    p.add_argument("photos", nargs="+", metavar="PHOTO", help=_("photo files or folders"))
    p.add_argument("--top-k", type=positive_int, default=3, help=_("how many breeds to list per photo"))
    p.add_argument("--json", action="store_true", help=_("print a JSON list, one object per photo"))


def run_predict(args: argparse.Namespace) -> int:
    from dogbreeds.core.errors import NotFoundError
    from dogbreeds.core.files import printable
    from dogbreeds.core.progress import progress
    from dogbreeds.data.images import iter_image_files
    from dogbreeds.inference.display import print_predictions
    from dogbreeds.inference.predictor import Predictor

    paths = iter_image_files(args.photos)
    if not paths:
        raise NotFoundError(_("no photos found in {paths}", paths=" ".join(map(printable, args.photos))))
    predictor = Predictor(args.model, backend=args.backend, precision=args.precision)
    predictions = []
    with progress(_("predicting"), total=len(paths), unit=_("photos")) as bar:
        for prediction in predictor.predict_paths(paths, top_k=args.top_k, batch_size=args.batch_size):
            predictions.append(prediction)
            bar.advance()
    if args.json:
        sys.stdout.write(predictions_json([p.to_dict() for p in predictions]) + "\n")
    else:
        print_predictions(predictions)
    return 0 if any(p.error is None for p in predictions) else 1


def predictions_json(objects: list[dict]) -> str:
    """Valid JSON whatever the photos: names that are not UTF-8 escaped, NaN (and infinities) written as null
    (:func:`~dogbreeds.core.files.json_ready`, which the web API's ``/api/predict`` uses too)."""
    from dogbreeds.core.files import json_ready

    return json.dumps(json_ready(objects), indent=2, ensure_ascii=False, allow_nan=False)
