"""The catalog commands: ``classify``, ``export``, ``sort``, ``review``, ``stats``, ``similar`` and ``corrections
export``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dogbreeds.cli.common import (
    SORT_MODES,
    VERDICT_CHOICES,
    batch_options,
    catalog_options,
    command,
    command_group,
    model_options,
    out_path,
    positive_int,
    probability,
)
from dogbreeds.core.i18n import _, n_


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = command(
        sub,
        "classify",
        help=_("classify whole folders into a catalog database (resumable; unchanged photos are skipped)"),
        examples=[
            "dogbreeds classify /photos/shelter --db catalog.db",
            "dogbreeds classify /photos/a /photos/b --db postgresql://dogs@db/catalog --workers 4",
            "dogbreeds classify /photos/shelter --db catalog.db --min-probability 0.8",
        ],
        run=run_classify,
        parents=[catalog_options(writes=True), model_options(), batch_options()],
    )
    p.add_argument("folders", nargs="+", metavar="DIR", help=_("folders to walk recursively (or single photos)"))
    p.add_argument("--workers", type=positive_int, default=2, help=_("threads reading and decoding photos"))
    p.add_argument(
        "--follow-links",
        action="store_true",
        help=_("also classify what links lead to outside the folders given (skipped by default, with a warning)"),
    )
    g = p.add_argument_group(_("verdict thresholds (default: the model card's)"))
    g.add_argument(
        "--min-probability", type=probability, help=_("below this top breed probability the verdict is unsure")
    )
    g.add_argument(
        "--min-dog-score",
        type=probability,
        help=_(
            "below this dog score (dog probability x top breed probability ** the card's dog_score_power) the "
            "verdict is not_a_dog"
        ),
    )
    g.add_argument(
        "--min-dog-probability",
        type=probability,
        help=_("judge by the dog probability alone (the rule before the dog score): below it, not_a_dog"),
    )

    p = command(
        sub,
        "export",
        help=_("export the catalog as CSV, JSON or Parquet"),
        examples=[
            "dogbreeds export --db catalog.db --out catalog.csv",
            "dogbreeds export --out dogs.parquet --verdict dog",
        ],
        run=run_export,
        parents=[catalog_options()],
    )
    p.add_argument("--format", choices=["csv", "json", "parquet"], help=_("file format (default: from the file name)"))
    out_path(p, _("file to write"), required=True)
    p.add_argument("--verdict", choices=VERDICT_CHOICES, help=_("only the rows with this final verdict"))

    p = command(
        sub,
        "sort",
        help=_("build a folder per breed from the catalog (originals are never moved or changed)"),
        examples=["dogbreeds sort --db catalog.db --into by-breed/", "dogbreeds sort --into by-breed/ --mode hardlink"],
        run=run_sort,
        parents=[catalog_options()],
    )
    p.add_argument("--into", type=Path, required=True, help=_("folder to fill with <breed>/, not_a_dog/, unsure/..."))
    p.add_argument("--mode", choices=SORT_MODES, default="copy", help=_("how each photo gets there"))

    p = command(
        sub,
        "review",
        help=_("a terminal queue of unsure and least-confident photos for volunteers"),
        examples=[
            "dogbreeds review --db catalog.db --reviewer ana",
            "dogbreeds review --limit 20",
            "dogbreeds review --list --not-a-dog",
        ],
        run=run_review,
        parents=[catalog_options(writes=True)],
    )
    p.add_argument("--reviewer", help=_("who is reviewing (default: the login name)"))
    p.add_argument("--limit", type=positive_int, help=_("review at most N photos"))
    p.add_argument(
        "--not-a-dog",
        dest="include_not_a_dog",
        action="store_true",
        help=_("queue every not_a_dog photo too (by default only those whose dog score came close)"),
    )
    p.add_argument(
        "--list", action="store_true", help=_("print the queue and decide nothing (opens the catalog read-only)")
    )

    p = command(
        sub,
        "stats",
        help=_("what the catalog holds: photos per verdict and breed, review progress"),
        examples=["dogbreeds stats --db catalog.db", "dogbreeds stats --json"],
        run=run_stats,
        parents=[catalog_options()],
    )
    p.add_argument("--json", action="store_true", help=_("print JSON instead of a table"))
    p.add_argument("--breeds", type=positive_int, default=15, help=_("show the N breeds with most photos"))

    p = command(
        sub,
        "similar",
        help=_("the catalogued photos most like a photo (the same dog photographed twice, look-alikes)"),
        examples=["dogbreeds similar found-dog.jpg --db catalog.db", "dogbreeds similar photo.jpg --top 20 --json"],
        run=run_similar,
        parents=[catalog_options(), model_options()],
    )
    p.add_argument("photo", metavar="PHOTO", help=_("the photo to match (in the catalog or not)"))
    p.add_argument("--top", type=positive_int, default=10, help=_("how many photos to show"))
    p.add_argument("--json", action="store_true", help=_("print JSON instead of a table"))
    p.add_argument("--no-expand", action="store_true", help=_("rank by the photo alone, without its nearest "
                                                          "neighbours: fewer look-alikes of the breed, the same "
                                                          "dog's other photos a little more often first"))  # fmt: skip

    csub = command_group(sub, "corrections", help=_("volunteers' decisions"))
    p = command(
        csub,
        "export",
        help=_("write the reviewed photos as a folder-per-breed tree that 'train' accepts"),
        examples=["dogbreeds corrections export --db catalog.db --out corrections/"],
        run=run_corrections_export,
        parents=[catalog_options()],
    )
    out_path(p, _("folder to write"), required=True)
    p.add_argument("--mode", choices=SORT_MODES, default="copy", help=_("how each photo gets there"))


def run_classify(args: argparse.Namespace) -> int:
    from dogbreeds.catalog.classify import Classifier
    from dogbreeds.catalog.database import database_url, describe, open_catalog
    from dogbreeds.core.errors import NotFoundError, UsageError
    from dogbreeds.core.files import printable
    from dogbreeds.inference.predictor import Predictor

    missing = [f for f in args.folders if not Path(f).exists()]
    if missing:
        raise NotFoundError(_("no such folder: {paths}", paths=", ".join(map(printable, missing))))
    if args.min_dog_score is not None and args.min_dog_probability is not None:
        raise UsageError(_("give --min-dog-score or --min-dog-probability, not both"))
    predictor = Predictor(args.model, backend=args.backend, precision=args.precision)
    if args.min_probability is not None:
        predictor.card.verdicts.min_probability = args.min_probability
    if args.min_dog_score is not None:
        predictor.card.verdicts.min_dog_score = args.min_dog_score
    if args.min_dog_probability is not None:
        predictor.card.verdicts.min_dog_score = args.min_dog_probability
        predictor.card.verdicts.dog_score_power = 0.0
    engine = open_catalog(args.db)
    classifier = Classifier(predictor, engine, batch_size=args.batch_size, workers=args.workers,
                            allow_outside=args.follow_links)  # fmt: skip
    try:
        stats = classifier.run(args.folders)
    except KeyboardInterrupt:
        print("\n" + n_("stopped; {n} row saved (run the same command again to go on)",
                            "stopped; {n} rows saved (run the same command again to go on)", classifier.stats.saved),
              file=sys.stderr)  # fmt: skip
        return 130
    verdicts = ", ".join(f"{k} {v}" for k, v in sorted(stats.by_verdict.items())) or _("none")
    vanished = _(", {n} vanished", n=stats.vanished) if stats.vanished else ""
    if stats.pruned:
        vanished += _(", {n} rows of deleted photos removed", n=stats.pruned)
    print(
        _(
            "{photos} photos in {seconds:.1f} s ({speed:.1f}/s): {classified} classified, {reused} known by content, "
            "{unchanged} unchanged, {unreadable} unreadable{vanished}; verdicts: {verdicts}; catalog {db}",
            photos=stats.photos, seconds=stats.seconds, speed=stats.photos_per_second, classified=stats.classified,
            reused=stats.reused, unchanged=stats.unchanged, unreadable=stats.unreadable, vanished=vanished,
            verdicts=verdicts, db=describe(database_url(args.db)),
        )
    )  # fmt: skip
    if stats.rejudged:
        print(_("the thresholds changed: {n} verdicts of this model judged again", n=stats.rejudged))
    skipped = stats.walk
    if skipped.outside or skipped.not_utf8:
        print(_("skipped {outside} links leading outside the folders given (--follow-links) and {names} files "
                "whose names are not UTF-8", outside=skipped.outside, names=skipped.not_utf8))  # fmt: skip
    return 0


def run_export(args: argparse.Namespace) -> int:
    from dogbreeds.catalog.database import iter_rows, open_catalog
    from dogbreeds.catalog.export import export_rows

    rows = iter_rows(open_catalog(args.db, readonly=True), final_verdict=args.verdict)
    n = export_rows(rows, args.out, fmt=args.format)
    print(n_("wrote {n} row to {path}", "wrote {n} rows to {path}", n, path=args.out))
    return 0


def run_sort(args: argparse.Namespace) -> int:
    from dogbreeds.catalog.database import classified_folders, iter_rows, open_catalog
    from dogbreeds.catalog.sort import sort_rows

    engine = open_catalog(args.db, readonly=True)
    stats = sort_rows(iter_rows(engine), args.into, mode=args.mode, classified=classified_folders(engine))
    print(_("placed {placed} photos in {into} ({mode}); {already} already there, {missing} no longer on disk",
            placed=stats.placed, into=args.into, mode=args.mode, already=stats.already,
            missing=stats.missing))  # fmt: skip
    if stats.changed or stats.outside:
        print(_("skipped {changed} photos changed since they were classified (run classify again) and {outside} "
                "that now lead outside the classified folders", changed=stats.changed,
                outside=stats.outside))  # fmt: skip
    return 0


def run_review(args: argparse.Namespace) -> int:
    import getpass

    from dogbreeds.catalog.database import open_catalog
    from dogbreeds.catalog.review import ReviewSession, queue
    from dogbreeds.core.breeds import display_name
    from dogbreeds.core.files import printable
    from dogbreeds.inference.display import verdict_word

    if args.list:
        waiting = 0
        for row in queue(open_catalog(args.db, readonly=True), include_not_a_dog=args.include_not_a_dog,
                         limit=args.limit):  # fmt: skip
            waiting += 1
            probability = f"{row['probability']:6.1%}" if row["probability"] is not None else "      "
            breed = display_name(row["breed"]) if row["name"] else "-"
            print(f"{verdict_word(row['verdict']):<10} {probability}  {breed:<24} {printable(row['path'])}")
        print(n_("{n} photo waiting for a volunteer", "{n} photos waiting for a volunteer", waiting))
        return 0

    session = ReviewSession(open_catalog(args.db), reviewer=args.reviewer or getpass.getuser())
    try:
        stats = session.run(limit=args.limit, include_not_a_dog=args.include_not_a_dog)
    except KeyboardInterrupt:
        print(
            "\n" + n_("stopped; {n} decision saved", "stopped; {n} decisions saved", session.stats.saved),
            file=sys.stderr,
        )
        return 130
    print(
        "\n"
        + _(
            "reviewed: {confirmed} confirmed, {corrected} corrected, {not_a_dog} not a dog, {later} for later",
            confirmed=stats.confirmed, corrected=stats.corrected, not_a_dog=stats.not_a_dog, later=stats.later,
        )
    )  # fmt: skip
    return 0


def run_stats(args: argparse.Namespace) -> int:
    from dogbreeds.catalog.database import database_url, describe, open_catalog
    from dogbreeds.catalog.stats import catalog_stats
    from dogbreeds.core.breeds import display_name
    from dogbreeds.inference.display import verdict_word

    stats = catalog_stats(open_catalog(args.db, readonly=True))
    if args.json:
        print(json.dumps(stats.to_dict(), indent=2))
        return 0
    print(n_("{n} photo in {db}", "{n} photos in {db}", stats.photos, db=describe(database_url(args.db))))
    for verdict, n in stats.verdicts.items():
        print(f"  {verdict_word(verdict):<12} {n:>8}  {n / max(stats.photos, 1):6.1%}")
    if stats.breeds:
        print(_("breeds (final answers), most photos first:"))
        for breed, n in list(stats.breeds.items())[: args.breeds]:
            print(f"  {display_name(breed):<32} {n:>8}")
        if len(stats.breeds) > args.breeds:
            print("  " + _("... and {n} more breeds", n=len(stats.breeds) - args.breeds))
    print(_("reviewed by volunteers: {reviewed}; waiting in the review queue: {waiting}", reviewed=stats.reviewed,
            waiting=stats.waiting))  # fmt: skip
    return 0


def run_similar(args: argparse.Namespace) -> int:
    import hashlib

    from dogbreeds.catalog.database import database_url, describe, open_catalog
    from dogbreeds.catalog.similar import load_index, model_ids, neighbours, stored_vector
    from dogbreeds.catalog.walk import catalog_key
    from dogbreeds.core.breeds import display_name
    from dogbreeds.core.card import load_card
    from dogbreeds.core.errors import UsageError
    from dogbreeds.core.files import printable, read_regular_file
    from dogbreeds.inference.display import verdict_word
    from dogbreeds.inference.predictor import runtime_model
    from dogbreeds.inference.retrieval import load_projection

    engine = open_catalog(args.db, readonly=True)
    card = load_card(runtime_model(args.model, args.backend, args.precision)[0])
    model_id, projection = card.id, load_projection(card)
    dims = projection.dims if projection is not None else None
    data, _st = read_regular_file(args.photo)
    sha = hashlib.sha256(data).hexdigest()
    index = load_index(engine, model_id, dims)
    if not len(index):
        held = ", ".join(f"{m} ({n})" for m, n in model_ids(engine)) or _("none")
        raise UsageError(_("{db} holds no embeddings of model {model} (it holds: {held}); run `dogbreeds classify` "
                           "with this model first, or pass the --model the catalog was classified with",
                           db=describe(database_url(args.db)), model=model_id, held=held))  # fmt: skip
    query = stored_vector(engine, sha, model_id, dims)
    if query is None:  # a photo the catalog does not hold: the model embeds it
        from dogbreeds.data.images import UnreadableImage
        from dogbreeds.inference.predictor import Predictor

        predictor = Predictor(args.model, backend=args.backend, precision=args.precision)
        try:
            query = predictor.embed_paths([args.photo])[0]
        except UnreadableImage as why:
            raise UsageError(_("cannot read {photo}: {why}", photo=printable(args.photo), why=why)) from None
    query_dhash = index.dhash_at(index.position(sha))
    if query_dhash is None:  # its photo hash, for the near-duplicates: from a small decoding of the bytes read
        from dogbreeds.data.images import UnreadableImage, dhash, read_photo

        try:
            # decoded at the scale classify decodes for the model: the same draft, the same hash
            query_dhash = dhash(read_photo(Path(args.photo), min_size=card.preprocess.resize_to, data=data).image)
        except UnreadableImage:
            query_dhash = None
    found = neighbours(engine, index, query, args.top, exclude_sha256=sha, query_path=catalog_key(args.photo),
                       expand=not args.no_expand, query_dhash=query_dhash)  # fmt: skip
    if args.json:
        print(json.dumps([n.to_dict() for n in found], indent=2, ensure_ascii=False))
        return 0
    for n in found:
        breed = display_name(n.breed) if n.breed else verdict_word(n.verdict or "")
        copies = "  " + n_("(+{n} copy)", "(+{n} copies)", len(n.paths) - 1) if len(n.paths) > 1 else ""
        print(f"{n.similarity:6.3f}  {breed:<28} {printable(n.paths[0])}{copies}")
    print(n_("{n} photo compared", "{n} photos compared", len(index)))
    return 0


def run_corrections_export(args: argparse.Namespace) -> int:
    from dogbreeds.catalog.database import open_catalog
    from dogbreeds.catalog.review import export_corrections
    from dogbreeds.core.breeds import display_name, is_known_breed

    counts = export_corrections(open_catalog(args.db, readonly=True), args.out, mode=args.mode)
    print(_("wrote {n} photos of {breeds} breeds to {path}", n=sum(counts.values()), breeds=len(counts), path=args.out))
    unlisted = sorted(b for b in counts if not is_known_breed(b))
    if unlisted:
        print(_("new breeds among them ({names}): train with --new-breeds to learn them",
                names=", ".join(display_name(b) for b in unlisted)))  # fmt: skip
    return 0
