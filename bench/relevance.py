"""Relevance, measured (issue 28): nDCG@10 and recall@10 of vector-only, full-text-only and
hybrid search over the labelled set of bench/relevance_set, per query kind and mean, with
the local model and with the fake provider's vectors.

The postings go into a throwaway cluster's public.jobs, the real pipeline
(`autoembed process`) embeds them, the same embedder embeds each query, and
public.search_jobs ranks: semantic_weight => 0 is full text only,
full_text_weight => 0 vector only (only rows the kept side ranked count).
Until that function is deployed, a stand-in in ``relevance_search`` ranks the
same way. The fake provider's vectors are a hash of the text: a control, where
the vector side knows nothing (what hybrid costs when the vectors are noise).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import replace
from typing import Any

import psycopg

from bench import relevance_search
from bench.harness import Bench, bench_stack, cli, emit
from bench.relevance_set import KINDS, QUERIES, postings
from bench.relevance_set.judging import grade
from bench.relevance_set.metrics import MODES, acceptance, ndcg_at, recall_at, summarise
from bench.relevance_set.postings import Posting

LOCAL_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
# search_jobs' own defaults; each side's vote is weighted by how strongly it matched
# (public.hybrid_search_score), which is what lets them pass issue 28's test with both embedders.
DEFAULTS = relevance_search.Weights(1.0, 0.6, 20)
# Hybrid at other weights and RRF constants (only the ratio of the two weights matters).
SWEEP = [relevance_search.Weights(1.0, s, k) for s in (1.0, 0.75, 0.6, 0.5) for k in (20, 60)]


def _load(conn: psycopg.Connection[Any], jobs: list[Posting]) -> dict[int, Posting]:
    """Insert the postings; their job ids."""
    rows = conn.execute(
        "insert into public.jobs (title, company, location, description, tags) "
        "select t, c, l, d, string_to_array(g, '|') "
        "from unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[]) "
        "with ordinality as u (t, c, l, d, g, n) order by n returning id",
        ([p.title for p in jobs], [p.company for p in jobs], [p.location for p in jobs],
         [p.description for p in jobs], ["|".join(p.tags) for p in jobs])).fetchall()
    return {int(row[0]): posting for row, posting in zip(rows, jobs, strict=True)}


def _process(bench: Bench, env: dict[str, str], *before: list[str]) -> float:
    """Run the CLI commands ``before`` then `autoembed process`; the seconds it all took."""
    started = time.perf_counter()
    for args in [*before, ["process", "--no-progress"]]:
        subprocess.run([sys.executable, "-m", "autoembed.cli", *args], env=env,
                       capture_output=True, check=True)
    return round(time.perf_counter() - started, 1)


def _evaluate(conn: psycopg.Connection[Any], jobs: dict[int, Posting], embed: Any,
              search: relevance_search.Search) -> dict[str, Any]:
    vectors = embed([q.text for q in QUERIES])
    judged = [[grade(q.intent, p) for p in jobs.values()] for q in QUERIES]

    def scores(mode: str, weights: relevance_search.Weights) -> list[tuple[str, float, float]]:
        out = []
        for query, vector, grades in zip(QUERIES, vectors, judged, strict=True):
            ids = search(conn, query.text, vector, mode, weights)
            ranked = [grade(query.intent, jobs[i]) for i in ids]
            out.append((query.kind, ndcg_at(ranked, grades), recall_at(ranked, grades)))
        return out

    modes = {mode: summarise(scores(mode, DEFAULTS)) for mode in MODES}
    sweep = []
    for weights in SWEEP:
        hybrid = summarise(scores("hybrid", weights))
        test = acceptance({**modes, "hybrid": hybrid})
        sweep.append({**weights._asdict(), "ndcg": hybrid["mean"]["ndcg"],
                      "recall": hybrid["mean"]["recall"], "met": test["met"],
                      "kinds_behind": test["kinds_behind_by_more_than_slack"]})
    return {"modes": modes, "acceptance": {m: acceptance(modes, m) for m in ("ndcg", "recall")},
            "sweep": sweep}


def run(args: argparse.Namespace | None = None) -> dict[str, Any]:
    from autoembed.embedders import create_embedder

    jobs_list = postings()
    result: dict[str, Any] = {"postings": len(jobs_list), "queries": len(QUERIES),
                              "queries_by_kind": {k: sum(q.kind == k for q in QUERIES)
                                                  for k in KINDS},
                              "weights": DEFAULTS._asdict(), "embedders": {}}
    with bench_stack() as bench, bench.connect() as conn:
        jobs = _load(conn, jobs_list)
        search = relevance_search.choose(conn)
        result["search"] = search.name
        fake = bench.settings()
        seconds = _process(bench, bench.cli_env())
        embedder = create_embedder(fake)
        result["embedders"]["fake"] = {"model": fake.model, "embed_seconds": seconds,
                                       **_evaluate(conn, jobs, lambda t: embedder.embed(t).vectors,
                                                   search)}
        local = replace(fake, provider="local", model=LOCAL_MODEL)
        env = bench.cli_env(EMBEDDING_PROVIDER="local", EMBEDDING_MODEL=LOCAL_MODEL)
        seconds = _process(bench, env, ["switch-model", LOCAL_MODEL])
        model = create_embedder(local)
        result["embedders"]["local"] = {"model": LOCAL_MODEL, "embed_seconds": seconds,
                                        **_evaluate(conn, jobs, lambda t: model.embed(t).vectors,
                                                    search)}
    return result


def _verdict(test: dict[str, Any]) -> str:
    if test["met"]:
        return "met"
    behind = ", ".join(test["kinds_behind_by_more_than_slack"]) or "none"
    return f"missed (beats both on the mean: {test['beats_both_on_mean']}; kinds behind: {behind})"


def _weights(w: dict[str, Any]) -> str:
    return (f"full_text_weight {w['full_text_weight']:g}, semantic_weight "
            f"{w['semantic_weight']:g}, rrf_k {w['rrf_k']}")


def docs_lines(result: dict[str, Any]) -> list[str]:
    """The "Relevance" section of docs/benchmarks.md."""
    columns = ("vector", "full_text", "hybrid")
    lines = ["", "## Relevance", "",
             f"bench/relevance.py: {result['postings']:,} generated postings and "
             f"{result['queries']} queries of the kinds job seekers type "
             f"({', '.join(f'{k} {n}' for k, n in result['queries_by_kind'].items())}), each "
             "posting judged 2, 1 or 0 for each query from its facts (never its text) by the "
             "rules written in bench/relevance_set/judging.py. Ranked by "
             f"{result['search']}: vector only, full text only and hybrid at the function's "
             f"defaults ({_weights(result['weights'])}). nDCG@10 with gains 2^grade - 1; "
             "recall@10 is the relevant postings in the top 10 over min(10, relevant). The fake "
             "provider's vectors are a hash of the text: a control where the vector side carries "
             "no meaning, so hybrid must not let it pull full text down."]
    for name, label in (("local", "the local model"), ("fake", "the fake provider's vectors")):
        run = result["embedders"].get(name)
        if not run:
            continue
        modes = run["modes"]
        lines += ["", f"With {label} ({run['model']}; the pipeline embedded the postings in "
                  f"{run['embed_seconds']} s):", "",
                  "| kind | nDCG vector | full text | hybrid | recall vector | full text | hybrid |",
                  "|---|---|---|---|---|---|---|"]
        for kind in [*result["queries_by_kind"], "mean"]:
            cells = [modes[m][kind][metric] for metric in ("ndcg", "recall") for m in columns]
            name_cell = "**mean**" if kind == "mean" else kind
            lines.append(f"| {name_cell} | " + " | ".join(f"{c:.3f}" for c in cells) + " |")
        lines += ["", "Issue 28's test on nDCG@10 (hybrid beats both on the mean, and trails the "
                  "better of the two by at most 0.05 on every kind): at the defaults "
                  f"{_verdict(run['acceptance']['ndcg'])}.",
                  "Hybrid at other settings (full_text_weight 1), mean nDCG@10 (recall@10), test: "
                  + "; ".join(f"semantic_weight {s['semantic_weight']:g}, k {s['rrf_k']}: "
                              f"{s['ndcg']:.3f} ({s['recall']:.3f}), {'met' if s['met'] else 'missed'}"
                              for s in run["sweep"]) + "."]
    return lines

if __name__ == "__main__":
    emit("relevance", run(cli(__doc__ or "")))
