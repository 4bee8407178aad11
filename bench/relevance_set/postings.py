"""Deterministic job postings: structured facts first, then the text an employer writes.

The facts (family, seniority, city, work mode, region, skills, company) are what
the judging rules read; the text is what search sees. Texts carry the noise of
real postings: titles that do not name the family the same way, colleagues of
other roles, an office city on a remote posting, "no remote work" on an office
one, skills only nice to have.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from bench.relevance_set.vocabulary import (
    CITIES,
    CITY,
    COMMON_EXTRAS,
    COMPANIES,
    FAMILIES,
    FAMILY,
    REGION_NAMES,
    SENIORITIES,
)

MODES = ("onsite", "hybrid", "remote")
MODE_WEIGHTS = (4, 3, 3)
YEARS = {"junior": "0-2", "mid": "2+", "senior": "5+", "staff": "8+", "lead": "7+"}


@dataclass(frozen=True)
class Posting:
    """One job posting: the facts judged, and the columns loaded into public.jobs."""

    number: int
    family: str
    seniority: str
    company: str
    city: str  # the office (for a remote posting, where the company sits)
    mode: str  # onsite, hybrid or remote
    region: str  # who may apply to a remote posting: EU, US, APAC or World
    skills: tuple[str, ...]  # required: the tags
    extras: tuple[str, ...]  # nice to have: in the description only
    title: str
    location: str
    description: str

    @property
    def tags(self) -> list[str]:
        return list(self.skills)


def postings(count: int = 2400, seed: int = 28) -> list[Posting]:
    """``count`` postings, the same ones for the same arguments."""
    rng = random.Random(seed)
    weights = [f.weight for f in FAMILIES]
    return [_posting(n, rng, rng.choices(FAMILIES, weights)[0].key) for n in range(count)]


def _posting(number: int, rng: random.Random, family_key: str) -> Posting:
    family = FAMILY[family_key]
    seniority, word = rng.choices(SENIORITIES, (2, 4, 4, 1, 1))[0]
    company, _, hq = rng.choice(COMPANIES)
    city = hq if rng.random() < 0.6 else rng.choice(CITIES)[0]
    mode = rng.choices(MODES, MODE_WEIGHTS)[0]
    region = (rng.choice((CITY[city][2], CITY[city][2], "World")) if mode == "remote"
              else CITY[city][2])
    skills = tuple(rng.sample(family.skills, min(len(family.skills), rng.randint(3, 4))))
    nearby = {s for r in family.related for s in FAMILY[r].skills}
    extras = tuple(rng.sample(sorted((nearby | set(family.skills) | set(COMMON_EXTRAS))
                                     - set(skills)), 2))
    base = rng.choice(family.titles)
    if rng.random() < 0.3 and " (" not in base and "," not in base:
        base = f"{base} ({_display(skills[0])})"
    title = f"{word} {base}".strip()
    location = _location(city, mode, region)
    description = _description(rng, family_key, seniority, company, city, mode, region, skills,
                               extras)
    return Posting(number, family_key, seniority, company, city, mode, region, skills, extras,
                   title, location, description)


def _display(skill: str) -> str:
    """A skill as a title writes it: (Python), (AWS), (Go)."""
    return skill.upper() if len(skill) <= 3 and skill not in ("go", "r") else skill.title()


def _location(city: str, mode: str, region: str) -> str:
    country = CITY[city][1]
    if mode == "onsite":
        return f"{city}, {country}"
    if mode == "hybrid":
        return f"{city}, {country} (Hybrid)"
    return "Remote (Worldwide)" if region == "World" else f"Remote ({REGION_NAMES[region]})"


def _description(rng: random.Random, family_key: str, seniority: str, company: str, city: str,
                 mode: str, region: str, skills: tuple[str, ...], extras: tuple[str, ...]) -> str:
    family = FAMILY[family_key]
    _, what, hq = next(c for c in COMPANIES if c[0] == company)
    people = rng.sample([f.people for f in FAMILIES if f.key != family_key], 2)
    duties = rng.sample(family.duties, min(2, len(family.duties)))
    level = {"mid": "", "lead": "leading the team, "}.get(seniority, "")
    paragraphs = [
        f"{company} {what}. We are {rng.choice((40, 120, 300, 900))} people, with our "
        f"headquarters in {hq}.",
        f"In this role you will {level}{' and '.join(duties)}. You will work closely with our "
        f"{people[0]} and {people[1]}.",
        f"You have {YEARS[seniority]} years of experience with {', '.join(skills[:-1])} and "
        f"{skills[-1]}. Nice to have: {extras[0]} or {extras[1]}.",
        _arrangement(rng, city, mode, region),
        rng.choice(("We offer a learning budget, 30 days of holiday and a pension plan.",
                    "Competitive salary, equity and a yearly team retreat.",
                    "Flexible hours, private health insurance and a new laptop of your choice.")),
    ]
    return "\n\n".join(paragraphs)


def _arrangement(rng: random.Random, city: str, mode: str, region: str) -> str:
    if mode == "onsite":
        note = rng.choice(("", "", " This role is on-site; we do not offer remote work."))
        return f"This role is based in our {city} office.{note}"
    if mode == "hybrid":
        return f"Hybrid: two or three days a week in our {city} office, the rest from home."
    where = "anywhere in the world" if region == "World" else f"anywhere in {REGION_NAMES[region]}"
    return (f"This is a fully remote position: work from home {where}. We meet in {city} "
            "twice a year.")
