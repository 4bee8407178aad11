"""The queries, by kind, as job seekers type them (judged in ``judging``)."""

from __future__ import annotations

from bench.relevance_set.judging import ENGINEERS, Intent, Query

KINDS = ("role", "skill", "role + city", "remote", "company", "misspelling", "synonym")


def _q(kind: str, text: str, **intent: object) -> Query:
    families = intent.pop("families", ())
    if isinstance(families, str):
        families = (families,)
    return Query(kind, text, Intent(families=tuple(families), **intent))  # type: ignore[arg-type]


QUERIES = (
    _q("role", "backend engineer", families="backend"),
    _q("role", "data engineer", families="data_eng"),
    _q("role", "product designer", families="design"),
    _q("role", "devops engineer", families="devops"),
    _q("role", "ios developer", families="ios"),
    _q("role", "machine learning engineer", families="ml"),
    _q("role", "senior frontend engineer", families="frontend", seniority="senior"),
    _q("role", "junior data analyst", families="data_science", seniority="junior"),
    _q("role", "engineering manager", families="em"),
    _q("role", "account executive", families="sales"),
    _q("skill", "kubernetes", skill="kubernetes"),
    _q("skill", "react", skill="react"),
    _q("skill", "python", skill="python"),
    _q("skill", "terraform", skill="terraform"),
    _q("skill", "figma", skill="figma"),
    _q("skill", "pytorch", skill="pytorch"),
    _q("skill", "salesforce", skill="salesforce"),
    _q("skill", "swift", skill="swift"),
    _q("skill", "kafka", skill="kafka"),
    _q("skill", "airflow", skill="airflow"),
    _q("role + city", "data engineer berlin", families="data_eng", city="Berlin"),
    _q("role + city", "backend developer london", families="backend", city="London"),
    _q("role + city", "frontend engineer amsterdam", families="frontend", city="Amsterdam"),
    _q("role + city", "product manager new york", families="pm", city="New York"),
    _q("role + city", "devops engineer munich", families="devops", city="Munich"),
    _q("role + city", "ios developer san francisco", families="ios", city="San Francisco"),
    _q("role + city", "data scientist toronto", families="data_science", city="Toronto"),
    _q("role + city", "machine learning engineer paris", families="ml", city="Paris"),
    _q("role + city", "product designer lisbon", families="design", city="Lisbon"),
    _q("role + city", "customer support dublin", families="support", city="Dublin"),
    _q("remote", "remote", remote=True),
    _q("remote", "remote backend engineer", families="backend", remote=True),
    _q("remote", "remote python developer", skill="python", remote=True),
    _q("remote", "remote frontend developer europe", families="frontend", remote=True,
       region="EU"),
    _q("remote", "work from home data engineer", families="data_eng", remote=True),
    _q("remote", "remote product designer", families="design", remote=True),
    _q("remote", "fully remote devops", families="devops", remote=True),
    _q("remote", "remote jobs north america", remote=True, region="US"),
    _q("remote", "remote react", skill="react", remote=True),
    _q("company", "northwind labs", company="Northwind Labs"),
    _q("company", "jobs at kestrel games", company="Kestrel Games"),
    _q("company", "tidepool finance careers", company="Tidepool Finance"),
    _q("company", "lumen robotics", company="Lumen Robotics"),
    _q("company", "cobalt payments backend", company="Cobalt Payments", families="backend"),
    _q("company", "hexagon bio", company="Hexagon Bio"),
    _q("company", "granite cloud engineer", company="Granite Cloud", families=ENGINEERS),
    _q("company", "larkspur ai", company="Larkspur AI"),
    _q("misspelling", "pyhton developer", skill="python"),
    _q("misspelling", "kuberentes", skill="kubernetes"),
    _q("misspelling", "fronted developer", families="frontend"),
    _q("misspelling", "backend enginer", families="backend"),
    _q("misspelling", "machine lerning engineer", families="ml"),
    _q("misspelling", "data scienist", families="data_science"),
    _q("misspelling", "androd developer", families="android"),
    _q("misspelling", "javscript", skill="javascript"),
    _q("misspelling", "northwnd labs", company="Northwind Labs"),
    _q("misspelling", "product desinger", families="design"),
    _q("synonym", "SWE", families=ENGINEERS),
    _q("synonym", "frontend dev", families="frontend"),
    _q("synonym", "k8s", skill="kubernetes"),
    _q("synonym", "ML engineer", families="ml"),
    _q("synonym", "golang", skill="go"),
    _q("synonym", "SRE", families="devops"),
    _q("synonym", "postgres", skill="postgresql"),
    _q("synonym", "sysadmin", families="devops"),
    _q("synonym", "tester", families="qa"),
    _q("synonym", "UX researcher", families="design", skill="user research"),
    _q("synonym", "mobile developer", families=("ios", "android")),
)
