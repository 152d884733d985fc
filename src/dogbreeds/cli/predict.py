"""``dogbreeds predict``: the breed of a few photos, as a sentence, a table or JSON."""

from __future__ import annotations

import argparse
import json
import sys

from dogbreeds.cli.common import batch_options, command, model_options, out_path, positive_int
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

    p = command(
        sub,
        "explain",
        help=_("draw where in a photo the model saw its breed: a heat-map over the photo as the model saw it"),
        examples=[
            "dogbreeds explain photo.jpg --out heat.png",
            "dogbreeds explain photo.jpg --breed 'berger allemand' --out why-not.png",
        ],
        run=run_explain,
        parents=[model_options(runtimes=False)],
    )
    p.add_argument("photo", metavar="PHOTO", help=_("a photo file"))
    out_path(p, _("the PNG to write (default: PHOTO's name with -heatmap.png, in the current folder)"))
    p.add_argument("--breed", help=_("draw the evidence for this breed (any name the vocabulary knows) instead of "
                                     "the top one"))  # fmt: skip


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


def run_explain(args: argparse.Namespace) -> int:
    import io
    from pathlib import Path

    from dogbreeds.core.breeds import display_name, resolve_class
    from dogbreeds.core.errors import UsageError
    from dogbreeds.core.files import printable, write_bytes_atomic
    from dogbreeds.data.images import UnreadableImage, load_rgb
    from dogbreeds.inference.display import sentence
    from dogbreeds.inference.explain import Explainer, overlay
    from dogbreeds.inference.predictor import Predictor

    predictor = Predictor(args.model, backend="onnx", precision="fp32")  # the heat-map needs the fp32 graph
    classes = predictor.card.classes
    breed_index = None
    if args.breed:
        breed = resolve_class(args.breed, also=classes)
        if breed not in classes:
            raise UsageError(_("this model does not know the breed {name}", name=args.breed))
        breed_index = classes.index(breed)
    out = args.out or Path(Path(args.photo).stem[:100] + "-heatmap.png")
    if out.suffix.lower() != ".png":
        raise UsageError(_("--out must name a .png file, not {path}", path=printable(str(out))))
    if Path(args.photo).resolve() == out.resolve():
        raise UsageError(_("--out would overwrite the photo itself"))
    try:
        image = load_rgb(args.photo, min_size=predictor.card.preprocess.resize_to)
    except UnreadableImage as err:
        raise UsageError(_("cannot read {photo}: {why}", photo=printable(args.photo), why=err)) from None
    explanation = Explainer(predictor).explain_image(image, breed_index)
    buffer = io.BytesIO()
    overlay(explanation).save(buffer, format="PNG")
    write_bytes_atomic(out, buffer.getvalue())
    output = explanation.output
    probs = output.probabilities[0]
    print(
        sentence(predictor.describe(printable(args.photo), probs, float(output.dog_probability[0]), 3, output.known(0)))
    )
    k = explanation.breed_index
    print(_("wrote {path}: the evidence for {name} ({probability:.1%}), brighter where it is stronger",
            path=printable(str(out)), name=display_name(classes[k]), probability=float(probs[k])))  # fmt: skip
    return 0


def predictions_json(objects: list[dict]) -> str:
    """Valid JSON whatever the photos: names that are not UTF-8 escaped, NaN (and infinities) written as null
    (:func:`~dogbreeds.core.files.json_ready`, which the web API's ``/api/predict`` uses too)."""
    from dogbreeds.core.files import json_ready

    return json.dumps(json_ready(objects), indent=2, ensure_ascii=False, allow_nan=False)
