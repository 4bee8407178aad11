"""``autoembed search``: the job board's hybrid search from a terminal, as an app calls it.

The query is embedded with the active model, by the configured provider (which
must make that model), and public.search_jobs ranks full text and vectors
together with the filters given; ``--source NAME`` searches a declared source
with public.search_embedding_source instead (the same ranking, no job filters).
Before anything is embedded there is no active model: the search is full text
alone, and says so.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from autoembed import redact
from autoembed.cli_commands.base import Needs, checked, command, fail, positive
from autoembed.config_values import integer
from autoembed.search_store import Filters, search, search_source
from autoembed.shown import shown

_DAYS_AGO = re.compile(r"(\d+)d")


def _since(value: str) -> datetime:
    """A date, a date and time (UTC unless it says), or ``30d`` for 30 days ago."""
    if match := _DAYS_AGO.fullmatch(value.strip()):
        return datetime.now(UTC) - timedelta(days=int(match.group(1)))
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a date: {value!r} (give 2026-11-01, 2026-11-01T09:00 or 30d)") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _search_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("query", help='what a job seeker types: "remote python backend", '
                                      '"\\"data engineer\\" -junior" (web search syntax)')
    parser.add_argument("--location", help='a city or place: "Berlin" finds "Berlin, Germany (Hybrid)"')
    parser.add_argument("--remote", action=argparse.BooleanOptionalAction, default=None,
                        help="only remote jobs (--no-remote: only the others)")
    parser.add_argument("--company", help="one company (case-insensitive)")
    parser.add_argument("--tag", action="append", default=[], metavar="TAG",
                        help="jobs with any of these tags (repeat for more)")
    parser.add_argument("--all-tags", action="append", default=[], metavar="TAG",
                        help="jobs with all of these tags (repeat for more)")
    parser.add_argument("--since", type=_since, metavar="DATE",
                        help="posted on or after: 2026-11-01, an ISO date and time, or 30d")
    parser.add_argument("--page", type=positive, default=1, help="the page, from 1 (default 1)")
    parser.add_argument("--page-size", type=checked(integer(1, 100), "--page-size"), default=10,
                        help="jobs a page, 1-100 (default 10)")
    parser.add_argument("--json", action="store_true", help="print the page as JSON, every column")
    parser.add_argument("--source", metavar="NAME",
                        help="search this declared source (search_embedding_source) instead of jobs; "
                             "the job filters do not apply")


# The filters only search_jobs takes, as the command line spells them.
_JOB_FILTERS = {"location": "--location", "remote": "--remote", "company": "--company", "tag": "--tag",
                "all_tags": "--all-tags", "since": "--since"}


@command("search", "search active jobs (or a declared source: --source): full text and the active "
         "model's vectors, fused", _search_arguments)
def search_command(args: argparse.Namespace, needs: Needs) -> int:
    from autoembed.embedders import create_embedder, model_mismatch
    from autoembed.errors import EmbeddingError, SetupError
    from autoembed.source_store import SourceStore

    source = None if args.source == "jobs" else args.source
    if source is not None and (given := [flag for name, flag in _JOB_FILTERS.items()
                                         if getattr(args, name) not in (None, [])]):
        return fail(2, f"{', '.join(given)} filter jobs; a source's search takes the query, "
                       "--page and --page-size")
    filters = Filters(location=args.location, remote=args.remote, company=args.company,
                      tags_any=args.tag, tags_all=args.all_tags, posted_since=args.since)
    text = args.query.strip() or None
    with needs.database() as db:
        sources = SourceStore(db)
        sources.check(source)  # a typo is told before the provider is paid
        # The preview's column order; JSON prints every column as the row holds it.
        order = sources.columns(source) if source is not None and not args.json else []
        active = db.active_model()
        vector = None
        if active is None:
            print("autoembed: note: no model is active yet (nothing embedded): full text only",
                  file=sys.stderr)
        elif text is not None:
            embedder = create_embedder(needs.settings())
            if mismatch := model_mismatch(active, embedder):
                return fail(2, f"cannot embed the query: {mismatch}")
            try:
                vector = embedder.embed([text]).vectors[0]
            except EmbeddingError as exc:
                return fail(2 if isinstance(exc, SetupError) else 1,
                            f"the provider did not embed the query with {active[0]}: {exc}")
        model = active[0] if active else None
        try:
            rows = (search(db, text, vector, model, filters, page=args.page, page_size=args.page_size)
                    if source is None else
                    search_source(db, source, text, vector, model, page=args.page, page_size=args.page_size))
        except psycopg.errors.InvalidParameterValue as exc:  # the search refused a page or size
            return fail(2, redact.error(exc, with_type=False))
    first = (args.page - 1) * args.page_size + 1
    if args.json:
        print(json.dumps({"query": args.query, "source": source or "jobs", "model": model,
                          "page": args.page, "page_size": args.page_size, "results": rows},
                         indent=2, default=_json_value))
    else:
        print(table(rows, first_rank=first) if source is None else source_table(rows, first, order))
    return 0


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def table(rows: list[dict[str, Any]], first_rank: int = 1) -> str:
    """Rank, score, title, company and location, aligned; a line saying so when nothing matched."""
    if not rows:
        return "no active job matches"
    cells = [("rank", "score", "title", "company", "location")]
    for n, row in enumerate(rows, start=first_rank):
        score = "-" if row["score"] is None else f"{row['score']:.4f}"
        cells.append((str(n), score, shown(row["title"] or ""), shown(row["company"] or ""),
                      shown(row["location"] or "")))
    widths = [max(len(c[i]) for c in cells) for i in range(4)]
    return "\n".join("  ".join([c[0].rjust(widths[0]), c[1].rjust(widths[1]),
                                *(v.ljust(w) for v, w in zip(c[2:4], widths[2:], strict=True)), c[4]])
                     for c in cells)


# A source's row is shown as its key and the start of its other columns' values.
PREVIEW_CHARACTERS = 80


def source_table(rows: list[dict[str, Any]], first_rank: int = 1, order: Sequence[str] = ()) -> str:
    """Rank, score, key and a preview of the row's columns (in ``order``: those the text reads
    first, rather than the JSON's key order); a line saying so when nothing matched."""
    if not rows:
        return "no live row matches"
    cells = [("rank", "score", "key", "row")]
    for n, row in enumerate(rows, start=first_rank):
        score = "-" if row["score"] is None else f"{row['score']:.4f}"
        data = row["row_data"] or {}
        names = [k for k in order if k in data] + [k for k in data if k not in order]
        values = [v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
                  for v in (data[k] for k in names) if v not in (None, row["source_key"])]
        preview = shown(" | ".join(values).replace("\n", " "))
        if len(preview) > PREVIEW_CHARACTERS:
            preview = preview[:PREVIEW_CHARACTERS - 3] + "..."
        cells.append((str(n), score, shown(row["source_key"]), preview))
    widths = [max(len(c[i]) for c in cells) for i in range(3)]
    return "\n".join("  ".join([c[0].rjust(widths[0]), c[1].rjust(widths[1]), c[2].ljust(widths[2]), c[3]])
                     for c in cells)


COMMANDS = (search_command,)
