"""``dogbreeds similar``: the catalogued photos nearest to a photo, by the model's own embedding.

The same dog photographed twice, or a look-alike for a lost-and-found search. Every content the catalog classified
has its embedding stored (int8, scaled per photo; :func:`dogbreeds.catalog.database.to_vector`), so a query is one
matrix product: exact search in NumPy, a chunk of the index at a time (docs/results.md has the time at 100,000
photos and its command). An index of that size is 128 MB of int8: the chunks are widened to float32 one at a
time, never the whole index at once.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Engine, func, inspect, literal, select

from dogbreeds.catalog import database
from dogbreeds.catalog.schema import embeddings
from dogbreeds.data.images import popcount

SEARCH_CHUNK = 16384  # rows of the index multiplied at a time (8 MB of float32 at 119 dimensions, 80 at 1,280)
NEAR_DUPLICATE_BITS = 4  # difference-hash bits (of 64) within which two photos are near-duplicates (the leakage
# check's rule, dogbreeds.evaluation.leakage)
DUPLICATE_SIMILARITY = 0.95  # cosine similarity above which two photos are near-duplicates (re-encoded, resized)
EXPAND_NEIGHBOURS, EXPAND_POWER = 5, 3.0  # query expansion, chosen by 3-fold CV on the train list (docs/results.md)


@dataclass
class EmbeddingIndex:
    """One model's stored embeddings: ``hashes[i]`` is the content of ``vectors[i]``."""

    model_id: str
    hashes: list[str]
    vectors: np.ndarray  # N x D int8, each row scaled to its largest component
    dhashes: np.ndarray | None = None  # N uint64 difference hashes of the photos (0 where unknown: see has_dhash)
    has_dhash: np.ndarray | None = None  # N bool

    def __len__(self) -> int:
        return len(self.hashes)

    def position(self, sha256: str) -> int | None:
        try:
            return self.hashes.index(sha256)
        except ValueError:
            return None

    def scores(self, query: np.ndarray) -> np.ndarray:
        """Cosine similarity of ``query`` to every row."""
        q = np.asarray(query, np.float32)
        q = q / max(float(np.linalg.norm(q)), 1e-12)
        scores = np.empty(len(self), np.float32)
        for start in range(0, len(self), SEARCH_CHUNK):
            rows = self.vectors[start : start + SEARCH_CHUNK].astype(np.float32)
            norms = np.sqrt(np.einsum("ij,ij->i", rows, rows))
            scores[start : start + SEARCH_CHUNK] = (rows @ q) / np.maximum(norms, 1e-12)
        return scores

    def unit_row(self, i: int) -> np.ndarray:
        row = self.vectors[i].astype(np.float32)
        return row / max(float(np.linalg.norm(row)), 1e-12)

    def dhash_at(self, i: int | None) -> int | None:
        if i is None or self.dhashes is None or self.has_dhash is None or not self.has_dhash[i]:
            return None
        return int(self.dhashes[i])

    def near_duplicates(self, query_dhash: int | None) -> tuple[np.ndarray, np.ndarray]:
        """Positions of the photos whose difference hash is within :data:`NEAR_DUPLICATE_BITS` of the query's,
        closest first, and their distances in bits (both empty without hashes)."""
        none = np.zeros(0, np.int64), np.zeros(0, np.int64)
        if query_dhash is None or self.dhashes is None or self.has_dhash is None or not len(self):
            return none
        ones = int(popcount(np.uint64(query_dhash)))
        if min(ones, 64 - ones) <= NEAR_DUPLICATE_BITS:
            return none  # a flat or featureless frame (black, white, a wall): its hash says nothing
        distance = popcount(self.dhashes ^ np.uint64(query_dhash)).astype(np.int64)
        close = np.flatnonzero(self.has_dhash & (distance <= NEAR_DUPLICATE_BITS))
        close = close[np.argsort(distance[close], kind="stable")]
        return close, distance[close]

    def search(
        self, query: np.ndarray, k: int, *, exclude: set[int] | None = None, expand: bool = True,
        query_dhash: int | None = None,
    ) -> list[tuple[int, float]]:  # fmt: skip
        """The ``k`` rows most similar to ``query``, best first, leaving out ``exclude``; each with its cosine
        similarity to the query.

        With ``expand`` (the default), the ranking is by the query expanded with its nearest rows (alpha query
        expansion, Radenovic et al. 2018: the query plus its :data:`EXPAND_NEIGHBOURS` nearest rows weighted by
        their similarity to the power :data:`EXPAND_POWER`): a photo's few nearest neighbours agree on what it
        shows, so their average points nearer the other photos of the same breed than the query alone. It pulls
        towards the breed, away from the one photo: so the near-duplicates among those neighbours (similarity
        :data:`DUPLICATE_SIMILARITY` and above) keep their places first, in the query's own order.

        With ``query_dhash`` (the query photo's difference hash), the photos whose hash is within
        :data:`NEAR_DUPLICATE_BITS` come before all others: the embedding keeps the breed more than the photo, and
        a greyscale or re-cropped copy can sit lower in it than another dog of the breed."""
        scores = self.scores(query)
        for i in exclude or ():
            scores[i] = -np.inf
        k = min(k, len(self) - len(exclude or ()))
        if k <= 0:
            return []
        ranking = scores
        if expand and len(self) - len(exclude or ()) > EXPAND_NEIGHBOURS:
            near = np.argpartition(-scores, EXPAND_NEIGHBOURS - 1)[:EXPAND_NEIGHBOURS]
            q = np.asarray(query, np.float32)
            q = q / max(float(np.linalg.norm(q)), 1e-12)
            weights = np.clip(scores[near], 0, None) ** EXPAND_POWER
            ranking = self.scores(q + sum(w * self.unit_row(int(i)) for w, i in zip(weights, near, strict=True)))
            for i in exclude or ():
                ranking[i] = -np.inf
            duplicates = np.flatnonzero(scores >= DUPLICATE_SIMILARITY)  # near-duplicates first, in the query's order
            ranking[duplicates] = 2.0 + scores[duplicates]
        if query_dhash is not None:  # the same photo re-encoded, resized, re-cropped or greyed: first, closest first
            close, bits = self.near_duplicates(query_dhash)
            kept = np.array([int(i) not in (exclude or ()) for i in close], bool)
            same, bits = close[kept], bits[kept]
            if len(same):  # closest hash first, then the most similar embedding
                order = same[np.lexsort((-scores[same], bits))]
                ranking = ranking.copy() if ranking is scores else ranking
                ranking[order] = 4.0 - np.arange(len(order)) / (len(order) + 1)
        best = np.argpartition(-ranking, k - 1)[:k]
        best = best[np.argsort(-ranking[best], kind="stable")]
        return [(int(i), float(scores[i])) for i in best]


def has_embeddings(engine: Engine) -> bool:
    """Whether the catalog has the embeddings table: a schema-1 catalog opened read-only has not (read-only
    commands never upgrade a catalog; the next classify does)."""
    return inspect(engine).has_table("embeddings")


def model_ids(engine: Engine) -> list[tuple[str, int]]:
    """The models whose embeddings the catalog holds, with how many contents each, most first."""
    if not has_embeddings(engine):
        return []
    query = select(embeddings.c.model_id, func.count()).group_by(embeddings.c.model_id)
    with engine.connect() as conn:
        return sorted(((m, int(n)) for m, n in conn.execute(query)), key=lambda t: -t[1])


def load_index(engine: Engine, model_id: str, dims: int | None = None) -> EmbeddingIndex:
    """Every stored embedding of ``model_id`` (of ``dims`` dimensions when given: the model's retrieval projection
    fixes them, and older rows' raw features are left out until classify embeds them again), read in one pass
    into one int8 array; a damaged row (the odd length out) is left out."""
    if not has_embeddings(engine):
        return EmbeddingIndex(model_id, [], np.zeros((0, 0), np.int8))
    with_dhash = "dhash" in {c["name"] for c in inspect(engine).get_columns("embeddings")}  # schema 3
    hashed = embeddings.c.dhash if with_dhash else literal(None).label("dhash")
    query = select(embeddings.c.sha256, embeddings.c.vector, hashed).where(embeddings.c.model_id == model_id)
    if dims is not None:
        query = query.where(func.length(embeddings.c.vector) == dims)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    if not rows:
        return EmbeddingIndex(model_id, [], np.zeros((0, dims or 0), np.int8))
    dim = dims or Counter(len(blob) for _sha, blob, _h in rows).most_common(1)[0][0]
    good = [(sha, bytes(blob), h) for sha, blob, h in rows if len(blob) == dim]
    vectors = np.frombuffer(b"".join(blob for _sha, blob, _h in good), np.int8).reshape(len(good), dim)
    has = np.array([h is not None for _sha, _blob, h in good], bool)
    dhashes = np.array([(h or 0) & ((1 << 64) - 1) for _sha, _blob, h in good], np.uint64)
    return EmbeddingIndex(model_id, [sha for sha, _blob, _h in good], vectors, dhashes, has)


def stored_vector(engine: Engine, sha256: str, model_id: str, dims: int | None = None) -> np.ndarray | None:
    """The stored embedding of one content (None when it has none, or none of ``dims`` dimensions)."""
    if not has_embeddings(engine):
        return None
    with engine.connect() as conn:
        blob = conn.scalar(
            select(embeddings.c.vector).where(embeddings.c.sha256 == sha256, embeddings.c.model_id == model_id)
        )
    if blob is None or (dims is not None and len(blob) != dims):
        return None
    return np.frombuffer(blob, np.int8).astype(np.float32)


def rows_for(engine: Engine, hashes: list[str], model_id: str) -> dict[str, list[dict[str, Any]]]:
    """The catalog rows (with the volunteers' final answer) of these contents under this model, by content."""
    found: dict[str, list[dict[str, Any]]] = {}
    for chunk in (hashes[i : i + 500] for i in range(0, len(hashes), 500)):
        for row in database.iter_rows(engine, hashes=chunk, model_id=model_id):
            found.setdefault(row["sha256"], []).append(row)
    return found


@dataclass
class Neighbour:
    sha256: str
    similarity: float
    paths: list[str]  # every catalogued photo with this content (copies), first by path
    breed: str | None  # the final answer: a volunteer's, else the model's when its verdict is dog
    verdict: str | None  # the final verdict
    model_breed: str | None  # the model's top breed, whatever its verdict

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.paths[0] if self.paths else None, "copies": self.paths[1:],
                "similarity": round(self.similarity, 4), "breed": self.breed, "verdict": self.verdict,
                "model_breed": self.model_breed}  # fmt: skip


def neighbours(
    engine: Engine,
    index: EmbeddingIndex,
    query: np.ndarray,
    k: int,
    *,
    exclude_sha256: str | None = None,
    query_path: str | None = None,
    expand: bool = True,
    query_dhash: int | None = None,
) -> list[Neighbour]:
    """The ``k`` nearest catalogued contents to ``query`` with their rows. The query's own content
    (``exclude_sha256``) is not searched: its other copies in the catalog, if any, come first, at similarity 1."""
    own = index.position(exclude_sha256) if exclude_sha256 else None
    hits = index.search(
        query, k + 8, exclude={own} if own is not None else None, expand=expand, query_dhash=query_dhash
    )  # spares for rows gone meanwhile
    rows = rows_for(engine, [index.hashes[i] for i, _s in hits], index.model_id)
    out = []
    if exclude_sha256:
        same = rows_for(engine, [exclude_sha256], index.model_id).get(exclude_sha256, [])
        copies = sorted((r for r in same if r["path"] != query_path), key=lambda r: r["path"])
        if copies:
            first = copies[0]
            out.append(Neighbour(exclude_sha256, 1.0, [r["path"] for r in copies], first.get("final_breed"),
                                 first.get("final_verdict"), first.get("breed")))  # fmt: skip
    for i, score in hits:
        found = sorted(rows.get(index.hashes[i], []), key=lambda r: r["path"])
        if not found:  # an embedding whose rows went meanwhile
            continue
        first = found[0]
        out.append(Neighbour(index.hashes[i], score, [r["path"] for r in found], first.get("final_breed"),
                             first.get("final_verdict"), first.get("breed")))  # fmt: skip
    return out[:k]
