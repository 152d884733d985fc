"""``dogbreeds export-onnx`` and ``quantize``: the files a model ships as."""

from __future__ import annotations

import argparse
from pathlib import Path

from dogbreeds.cli.common import command, data_options, model_options, out_path, positive_int
from dogbreeds.core.i18n import _


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = command(
        sub,
        "export-onnx",
        help=_("export a checkpoint to ONNX for fast inference without PyTorch"),
        examples=[
            "dogbreeds export-onnx --model runs/dognet",
            "dogbreeds export-onnx --model runs/dognet --out d.onnx",
        ],
        run=run_export_onnx,
    )
    p.add_argument("--model", required=True, help=_("checkpoint folder (model.json + model.safetensors)"))
    out_path(p, _("ONNX file to write (default: model.onnx in the checkpoint)"))

    p = command(
        sub,
        "quantize",
        help=_("write an int8 copy of a model for faster CPU inference (evaluate it before use)"),
        examples=[
            "dogbreeds quantize --calibration my-photos/ --out int8.onnx",
            "dogbreeds quantize --runtime openvino --calibration my-photos/ --out ov-int8.onnx",
        ],
        run=run_quantize,
        parents=[model_options(runtimes=False)],
    )
    p.add_argument("--calibration", nargs="+", required=True, metavar="DIR", help=_("photos to calibrate on"))
    p.add_argument("--photos", type=positive_int, default=200, help=_("how many calibration photos (at least 32)"))
    out_path(p, _("the .onnx file to write (its card goes beside it)"), required=True)
    p.add_argument(
        "--runtime",
        choices=["onnx", "openvino"],
        default="onnx",
        help=_(
            "the runtime the copy is for: ONNX Runtime, or OpenVINO (needs NNCF: pip install 'dogbreeds[quantize]'; "
            "run it with --backend openvino)"
        ),
    )

    command(
        sub,
        "fit-retrieval",
        help=_(
            "fit the projection `similar` compares photos by, on photos labelled by breed (the model's training "
            "photos), and write it beside the model"
        ),  # fmt: skip
        examples=[
            "dogbreeds fit-retrieval --data stanford-dogs --split train",
            "dogbreeds fit-retrieval --model runs/mine --data my-breeds/",
        ],
        run=run_fit_retrieval,
        parents=[model_options(runtimes=False), data_options()],
    )


def run_export_onnx(args: argparse.Namespace) -> int:
    from dogbreeds.models.rebuild import export_checkpoint

    out = export_checkpoint(Path(args.model), args.out)
    print(_("wrote {path}", path=out))
    return 0


def run_quantize(args: argparse.Namespace) -> int:
    from dogbreeds.inference.quantize import quantize_model

    out = quantize_model(args.model, args.calibration, args.out, photos=args.photos, runtime=args.runtime)
    backend = f" --backend {args.runtime}"  # each copy suits its runtime (auto also picks it)
    print(_("wrote {path} ({size:,} bytes); measure it: dogbreeds evaluate --model {path}{backend} --data ...",
            path=out, size=out.stat().st_size, backend=backend))  # fmt: skip
    return 0


def run_fit_retrieval(args: argparse.Namespace) -> int:
    from dogbreeds.data.folders import load_samples
    from dogbreeds.inference.retrieval import fit_for_model

    samples = load_samples(args.data, args.split, images=args.images, new_breeds=True).limit_per_class(
        args.limit_per_class
    )
    where = f"{args.data} ({args.split})" if args.split else str(args.data)
    out, figures = fit_for_model(args.model, [str(s.path) for s in samples.samples],
                                 [s.label for s in samples.samples], data=where)  # fmt: skip
    scores = figures["cross_validated_nearest_same_breed"]
    chosen = scores[f"shrink={scores['chosen_shrink']:g}"]
    print(_("wrote {path} ({dims} dimensions, from {photos:,} photos): the nearest photo has the same breed "
            "{projected:.1%} of the time against {raw:.1%} with the raw features (cross-validated on these photos)",
            path=out, dims=figures["dims"], photos=figures["photos"], projected=chosen, raw=scores["raw"]))  # fmt: skip
    print(_("catalogs classified with this model embed their photos again on their next `dogbreeds classify`"))
    return 0
