"""nDCG@k and recall@k over graded judgements, their means by kind, and the issue's test.

nDCG@k: the ranked list's DCG (gain 2^grade - 1, discount log2(position + 1)) over
the DCG of the best possible list from every judged posting. recall@k: the
relevant postings (grade >= 1) in the top k over min(k, all relevant postings),
so a query with 500 relevant postings can score 1 with ten of them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

K = 10
MODES = ("vector", "full_text", "hybrid")
METRICS = ("ndcg", "recall")
SLACK = 0.05  # hybrid may trail the better of the two by this much on one kind


def dcg(grades: Iterable[int]) -> float:
    return sum((2.0 ** g - 1) / math.log2(i + 2) for i, g in enumerate(grades))


def ndcg_at(ranked: Sequence[int], judged: Iterable[int], k: int = K) -> float:
    """``ranked``: the grades of the returned postings, best first; ``judged``: every grade."""
    ideal = dcg(sorted(judged, reverse=True)[:k])
    return dcg(ranked[:k]) / ideal if ideal else 0.0


def recall_at(ranked: Sequence[int], judged: Iterable[int], k: int = K) -> float:
    relevant = sum(1 for g in judged if g > 0)
    if not relevant:
        return 0.0
    return sum(1 for g in ranked[:k] if g > 0) / min(k, relevant)


def summarise(scores: Sequence[tuple[str, float, float]]) -> dict[str, dict[str, float]]:
    """(kind, ndcg, recall) per query -> {kind or "mean": {"ndcg", "recall"}}; the mean is over
    queries, each kind's over its own."""
    kinds = sorted({kind for kind, _, _ in scores})
    groups = {kind: [s for s in scores if s[0] == kind] for kind in kinds}
    groups["mean"] = list(scores)
    return {name: {"ndcg": round(sum(s[1] for s in rows) / len(rows), 3),
                   "recall": round(sum(s[2] for s in rows) / len(rows), 3)}
            for name, rows in groups.items() if rows}


def acceptance(modes: Mapping[str, Mapping[str, Mapping[str, float]]],
               metric: str = "ndcg") -> dict[str, object]:
    """Issue 28: hybrid beats vector and full text on the mean, and on every kind trails the
    better of the two by at most SLACK."""
    hybrid, vector, text = (modes[m] for m in ("hybrid", "vector", "full_text"))
    beats_mean = hybrid["mean"][metric] > max(vector["mean"][metric], text["mean"][metric])
    short = {kind: round(max(vector[kind][metric], text[kind][metric]) - hybrid[kind][metric], 3)
             for kind in hybrid if kind != "mean"}
    behind = sorted(kind for kind, gap in short.items() if gap > SLACK)
    return {"beats_both_on_mean": beats_mean, "kinds_behind_by_more_than_slack": behind,
            "met": beats_mean and not behind}
