"""The relevance set of bench/relevance.py: generated the same every time, big and varied
enough, every query with a relevant posting, the judging rules as written, the metrics right."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest

from bench.relevance_set import KINDS, QUERIES, Intent, Posting, grade, postings
from bench.relevance_set.metrics import acceptance, ndcg_at, recall_at, summarise
from bench.relevance_set.vocabulary import FAMILY

POSTINGS = postings()


def _posting(**facts: object) -> Posting:
    """A Berlin office posting for a senior backend engineer, with ``facts`` changed."""
    base = Posting(0, "backend", "senior", "Northwind Labs", "Berlin", "onsite", "EU",
                   ("python", "postgresql", "kafka"), ("go", "sql"), "Senior Backend Engineer",
                   "Berlin, Germany", "text")
    return replace(base, **facts)  # type: ignore[arg-type]


def test_the_set_is_generated_the_same_every_time() -> None:
    """Same seed, same postings; another seed, other postings."""
    assert postings() == POSTINGS
    assert postings(seed=29) != POSTINGS


def test_the_set_is_as_large_and_varied_as_the_issue_asks() -> None:
    """At least 2,000 postings across families, seniorities, cities, work modes, companies and
    stacks, and at least 60 queries covering every kind the issue names."""
    assert len(POSTINGS) >= 2000 and len(QUERIES) >= 60
    assert {p.family for p in POSTINGS} == set(FAMILY)
    assert {p.mode for p in POSTINGS} == {"onsite", "hybrid", "remote"}
    assert len({p.seniority for p in POSTINGS}) == 5
    assert len({p.city for p in POSTINGS}) >= 12 and len({p.company for p in POSTINGS}) >= 30
    assert len({s for p in POSTINGS for s in p.skills}) >= 60
    kinds = Counter(q.kind for q in QUERIES)
    assert set(kinds) == set(KINDS) == {"role", "skill", "role + city", "remote", "company",
                                        "misspelling", "synonym"}
    assert min(kinds.values()) >= 8
    assert len({q.text for q in QUERIES}) == len(QUERIES)


@pytest.mark.parametrize("query", QUERIES, ids=[q.text for q in QUERIES])
def test_every_query_has_a_relevant_posting(query: object) -> None:
    """Each query has at least one posting judged 2, and separates: a quarter or more are 0."""
    grades = Counter(grade(query.intent, p) for p in POSTINGS)  # type: ignore[attr-defined]
    assert grades[2] >= 1
    assert grades[0] >= len(POSTINGS) // 4


def test_the_text_says_what_the_facts_are() -> None:
    """Tags are the required skills, the location names the city or says remote, the title is
    one the family uses and the description names the company and the nice-to-haves."""
    for p in POSTINGS:
        assert p.tags == list(p.skills) and not set(p.skills) & set(p.extras)
        assert ("Remote" in p.location) == (p.mode == "remote")
        assert p.mode == "remote" or p.location.startswith(p.city)
        assert any(t in p.title for t in FAMILY[p.family].titles)
        assert p.company in p.description and all(e in p.description for e in p.extras)


@pytest.mark.parametrize(("intent", "facts", "expected"), [
    (Intent(families=("backend",), city="Berlin"), {}, 2),
    (Intent(families=("backend",), city="Berlin"), {"mode": "hybrid"}, 2),
    (Intent(families=("backend",), city="Berlin"), {"mode": "remote", "region": "EU"}, 1),
    (Intent(families=("backend",), city="Berlin"), {"mode": "remote", "region": "World"}, 1),
    (Intent(families=("backend",), city="Berlin"), {"mode": "remote", "region": "US"}, 0),
    (Intent(families=("backend",), city="Berlin"), {"family": "fullstack"}, 1),
    (Intent(families=("backend",), city="Berlin"),
     {"family": "fullstack", "mode": "remote", "region": "EU"}, 0),
    (Intent(families=("backend",), city="Berlin"), {"city": "London"}, 0),
    (Intent(families=("backend",), city="Berlin"), {"family": "design"}, 0),
    (Intent(families=("backend",), seniority="senior"), {"seniority": "junior"}, 1),
    (Intent(skill="python"), {}, 2),
    (Intent(skill="go"), {}, 1),
    (Intent(skill="rust"), {}, 0),
    (Intent(remote=True), {"mode": "remote"}, 2),
    (Intent(remote=True), {"mode": "hybrid"}, 1),
    (Intent(remote=True), {}, 0),
    (Intent(remote=True, region="US"), {"mode": "remote", "region": "EU"}, 0),
    (Intent(remote=True, region="US"), {"mode": "remote", "region": "World"}, 2),
    (Intent(company="Northwind Labs"), {}, 2),
    (Intent(company="Northwind Labs"), {"company": "Acme Analytics"}, 0),
    (Intent(company="Northwind Labs", families=("backend",)), {"family": "design"}, 0),
])
def test_the_judging_rules_as_written(intent: Intent, facts: dict[str, object],
                                      expected: int) -> None:
    """2 when every constraint is met, 1 when one is only partly met, else 0."""
    assert grade(intent, _posting(**facts)) == expected


def test_judging_reads_the_facts_never_the_text() -> None:
    """A posting that mentions Berlin and python in its text but is elsewhere without them is 0."""
    elsewhere = _posting(city="London", skills=("java",), extras=("git", "jira"),
                         description="Berlin python", title="Python Engineer Berlin")
    assert grade(Intent(city="Berlin"), elsewhere) == 0
    assert grade(Intent(skill="python"), elsewhere) == 0


def test_misspellings_and_synonyms_mean_their_literal_forms() -> None:
    """A misspelled or synonym query is judged exactly as the literal query it stands for."""
    by_text = {q.text: q.intent for q in QUERIES}
    assert by_text["pyhton developer"] == by_text["python"] == Intent(skill="python")
    assert by_text["kuberentes"] == by_text["k8s"] == by_text["kubernetes"]
    assert by_text["backend enginer"] == by_text["backend engineer"]
    assert by_text["northwnd labs"] == by_text["northwind labs"]
    assert by_text["frontend dev"] == by_text["fronted developer"]


def test_ndcg_and_recall() -> None:
    """nDCG is 1 for the ideal order and less for another; recall is capped at k relevant."""
    judged = [2, 2, 1, 0, 0] + [0] * 20
    assert ndcg_at([2, 2, 1], judged) == pytest.approx(1.0)
    assert ndcg_at([1, 2, 2], judged) < ndcg_at([2, 1, 2], judged) < 1.0
    assert ndcg_at([0, 0], judged) == 0.0
    assert recall_at([2, 0, 1], judged) == pytest.approx(2 / 3)
    many = [1] * 50
    assert recall_at([1] * 10, many) == 1.0 and recall_at([1] * 5 + [0] * 5, many) == 0.5


def test_the_acceptance_rule() -> None:
    """Hybrid must beat both on the mean and trail the better of them by at most 0.05 per kind."""
    def modes(hybrid_mean: float, hybrid_kind: float) -> dict[str, dict[str, dict[str, float]]]:
        rows = {"vector": (0.5, 0.6), "full_text": (0.6, 0.4), "hybrid": (hybrid_mean, hybrid_kind)}
        return {m: {"mean": {"ndcg": a}, "role": {"ndcg": b}} for m, (a, b) in rows.items()}

    assert acceptance(modes(0.61, 0.56))["met"] is True
    assert acceptance(modes(0.6, 0.6))["met"] is False  # a tie does not beat
    assert acceptance(modes(0.7, 0.54)) == {"beats_both_on_mean": True,
                                            "kinds_behind_by_more_than_slack": ["role"],
                                            "met": False}


def test_summaries_average_per_kind_and_over_all_queries() -> None:
    """Each kind averages its own queries; the mean averages every query."""
    table = summarise([("role", 1.0, 1.0), ("role", 0.0, 0.5), ("skill", 0.5, 0.0)])
    assert table["role"] == {"ndcg": 0.5, "recall": 0.75}
    assert table["mean"] == {"ndcg": 0.5, "recall": 0.5}


def test_the_published_section_has_every_kind_for_both_embedders() -> None:
    """docs/benchmarks.md's Relevance section: a row per kind and the mean, per embedder, with
    the issue's verdict at search_jobs' defaults."""
    import json
    from pathlib import Path

    from bench.relevance import docs_lines

    latest = json.loads((Path(__file__).resolve().parents[2] / "bench" / "results"
                         / "latest.json").read_text())
    text = "\n".join(docs_lines(latest["results"]["relevance"]))
    for kind in [*KINDS, "**mean**"]:
        assert text.count(f"\n| {kind} | ") == 2
    assert text.count("Issue 28's test on nDCG@10") == 2
    assert "With the local model" in text and "With the fake provider's vectors" in text
