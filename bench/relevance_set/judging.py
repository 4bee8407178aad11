"""The queries job seekers type, what each means, and the rules that judge a posting for it.

A query means a few constraints (its ``Intent``): role families, a seniority, a
skill, a city, remote work (in a region), a company. A misspelled or synonym query
means what its correct, literal form means: "pyhton" is python, "SWE" a software
engineer, "k8s" kubernetes. Each constraint judges a posting from its facts, never
from its text:

- families: met when the posting's family is one of them; partly met when it is a
  family a seeker of them would also take (``Family.related``: full-stack for
  backend, SRE/platform for security, ...).
- seniority: met when equal; partly met by any other level (still the role).
- skill: met when the posting requires it (its tags); partly met when it is only
  nice to have.
- city: met by an office or hybrid posting in that city; partly met by a remote
  posting open to the city's region (or worldwide).
- remote: met by a remote posting open to the region asked (worldwide is open to
  every region); partly met by a hybrid posting (in that region).
- company: met by the company's postings; never partly.

Grade 2 (relevant): every constraint met. Grade 1 (partly relevant): all met but
one, which is partly met. Otherwise 0. nDCG uses the grades as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.relevance_set.postings import Posting
from bench.relevance_set.vocabulary import CITY, FAMILY

ENGINEERS = ("backend", "frontend", "fullstack", "ios", "android")


@dataclass(frozen=True)
class Intent:
    """What a query asks for; None (or empty) where it says nothing."""

    families: tuple[str, ...] = ()
    seniority: str | None = None
    skill: str | None = None
    city: str | None = None
    remote: bool = False
    region: str | None = None  # with remote: EU, US or APAC
    company: str | None = None


@dataclass(frozen=True)
class Query:
    """One query as typed, its kind and what it means."""

    kind: str
    text: str
    intent: Intent


FULL, PARTIAL, NONE = 2, 1, 0


def grade(intent: Intent, posting: Posting) -> int:
    """2, 1 or 0 by the rules above."""
    checks = [check(intent, posting) for check in _CHECKS]
    asked = [c for c in checks if c is not None]
    if any(c == NONE for c in asked):
        return 0
    partial = sum(1 for c in asked if c == PARTIAL)
    return 2 if partial == 0 else 1 if partial == 1 else 0


def _families(intent: Intent, p: Posting) -> int | None:
    if not intent.families:
        return None
    if p.family in intent.families:
        return FULL
    related = {r for f in intent.families for r in FAMILY[f].related}
    return PARTIAL if p.family in related else NONE


def _seniority(intent: Intent, p: Posting) -> int | None:
    if intent.seniority is None:
        return None
    return FULL if p.seniority == intent.seniority else PARTIAL


def _skill(intent: Intent, p: Posting) -> int | None:
    if intent.skill is None:
        return None
    return FULL if intent.skill in p.skills else PARTIAL if intent.skill in p.extras else NONE


def _city(intent: Intent, p: Posting) -> int | None:
    if intent.city is None:
        return None
    if p.mode != "remote":
        return FULL if p.city == intent.city else NONE
    return PARTIAL if p.region in (CITY[intent.city][2], "World") else NONE


def _remote(intent: Intent, p: Posting) -> int | None:
    if not intent.remote:
        return None
    if p.mode == "remote":
        return FULL if intent.region is None or p.region in (intent.region, "World") else NONE
    in_region = intent.region is None or CITY[p.city][2] == intent.region
    return PARTIAL if p.mode == "hybrid" and in_region else NONE


def _company(intent: Intent, p: Posting) -> int | None:
    if intent.company is None:
        return None
    return FULL if p.company == intent.company else NONE


_CHECKS = (_families, _seniority, _skill, _city, _remote, _company)
