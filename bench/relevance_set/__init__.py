"""The labelled evaluation set of bench/relevance.py: postings, queries, judging rules.

Generated, never stored: ``postings()`` makes the same postings for the same seed,
``QUERIES`` are the queries job seekers type by kind (``KINDS``), and
``grade(query.intent, posting)`` judges a posting 2, 1 or 0 by the rules written
in ``judging``'s docstring, from the posting's facts, not its text.
"""

from __future__ import annotations

from bench.relevance_set.judging import Intent, Query, grade
from bench.relevance_set.postings import Posting, postings
from bench.relevance_set.queries import KINDS, QUERIES

__all__ = ["KINDS", "QUERIES", "Intent", "Posting", "Query", "grade", "postings"]
