"""Realistic, deterministic job postings for the demo and the benchmarks."""

from __future__ import annotations

import random
from dataclasses import dataclass

ROLES = [
    ("Backend Engineer", ["python", "django", "postgres", "api"]),
    ("Senior Python Developer", ["python", "fastapi", "aws", "backend"]),
    ("Frontend Engineer", ["typescript", "react", "css", "frontend"]),
    ("Full-Stack Developer", ["typescript", "node", "react", "postgres"]),
    ("Data Engineer", ["python", "spark", "airflow", "sql"]),
    ("Machine Learning Engineer", ["python", "pytorch", "mlops", "llm"]),
    ("Site Reliability Engineer", ["kubernetes", "terraform", "go", "observability"]),
    ("iOS Developer", ["swift", "ios", "mobile", "swiftui"]),
    ("Android Developer", ["kotlin", "android", "mobile", "jetpack"]),
    ("Product Designer", ["figma", "ux", "design-systems", "research"]),
    ("Engineering Manager", ["leadership", "hiring", "agile", "backend"]),
    ("Rust Systems Engineer", ["rust", "linux", "performance", "networking"]),
    ("Security Engineer", ["appsec", "cloud", "threat-modeling", "python"]),
    ("Database Administrator", ["postgres", "replication", "performance", "sql"]),
    ("Technical Writer", ["documentation", "api", "markdown", "developer-experience"]),
    ("Customer Support Specialist", ["support", "saas", "communication", "zendesk"]),
    ("Go Backend Developer", ["go", "grpc", "microservices", "postgres"]),
    ("DevOps Engineer", ["ci-cd", "docker", "aws", "bash"]),
]
COMPANIES = ["Acme Analytics", "Northwind Labs", "Bluefin Health", "Quillstack", "Orbital Freight",
             "Lumen Robotics", "Tidepool Finance", "Cedar & Co", "Kestrel Games", "Mosaic Learning",
             "Parcelwise", "Verdant Energy", "Hexagon Bio", "Sundial Travel", "Brightline Media"]
LOCATIONS = ["Remote", "Remote (EU)", "Remote (US)", "Berlin", "London", "New York", "Lisbon",
             "Toronto", "Singapore", "San Francisco", "Amsterdam", "Austin"]
DUTIES = [
    "design, build and operate {a} services used by thousands of customers",
    "own features end to end, from the first sketch to production monitoring",
    "work closely with product and design to ship small, frequent releases",
    "improve reliability, performance and developer tooling across the team",
    "mentor engineers and take part in code review and architecture discussions",
    "write clear documentation and keep our {a} stack simple and well tested",
]
PERKS = ["a four-day work week", "a yearly learning budget", "equity for everyone",
         "flexible hours across time zones", "a home-office stipend", "25 days of paid leave"]


@dataclass(frozen=True)
class Job:
    title: str
    company: str
    location: str
    description: str
    tags: list[str]


def sample_jobs(count: int, *, seed: int = 7, paragraphs: int = 2) -> list[Job]:
    """``count`` job postings; ``paragraphs`` sets the description length."""
    rng = random.Random(seed)
    jobs = []
    for _ in range(count):
        title, tags = rng.choice(ROLES)
        company, location = rng.choice(COMPANIES), rng.choice(LOCATIONS)
        body = []
        for _ in range(paragraphs):
            duties = "; ".join(d.format(a=tags[0]) for d in rng.sample(DUTIES, 3))
            body.append(f"As a {title} at {company} you will {duties}. We use "
                        f"{', '.join(tags)} every day. We offer {rng.choice(PERKS)} "
                        f"and {rng.choice(PERKS)}.")
        jobs.append(Job(title, company, location, "\n\n".join(body), list(tags)))
    return jobs
