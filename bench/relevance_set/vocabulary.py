"""The words of the relevance set: role families, skills, cities, companies.

Each role family lists the titles employers put on it, the skills its postings
ask for, the duties they describe and the families a job seeker searching for it
would also take (``related``): the judging rules in ``judging`` read these.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    """A kind of job, whatever its title says."""

    key: str
    titles: tuple[str, ...]
    skills: tuple[str, ...]
    duties: tuple[str, ...]
    related: tuple[str, ...]
    people: str  # how colleagues in other teams call them, plural
    weight: int  # how many postings of it, relative to the others


def split(text: str) -> tuple[str, ...]:
    """"a|b|c" as ("a", "b", "c")."""
    return tuple(t.strip() for t in text.split("|") if t.strip())


def _family(key: str, titles: str, skills: str, duties: str, related: str, people: str,
            weight: int) -> Family:
    return Family(key, split(titles), split(skills), split(duties), split(related), people, weight)


FAMILIES = (
    _family("backend", "Backend Engineer|Backend Developer|Server-Side Engineer|API Engineer|"
            "Software Engineer, Backend", "python|go|java|node.js|postgresql|django|kafka|redis|"
            "grpc|rust|ruby", "design and run the services and APIs behind our product|"
            "model data and tune slow queries|build event-driven pipelines between services",
            "fullstack|dba", "backend engineers", 14),
    _family("frontend", "Frontend Engineer|Front-End Developer|UI Engineer|Web Developer|"
            "Software Engineer, Frontend", "react|typescript|javascript|vue|css|next.js|angular",
            "build accessible, fast user interfaces|turn designs into reusable components|"
            "own the web app's performance and its component library", "fullstack",
            "frontend engineers", 11),
    _family("fullstack", "Full-Stack Developer|Full Stack Engineer|Product Engineer",
            "typescript|react|node.js|python|postgresql|ruby on rails|graphql",
            "ship features end to end, from the database to the browser|"
            "work across our web app and its API", "backend|frontend", "product engineers", 9),
    _family("ios", "iOS Developer|iOS Engineer|Mobile Engineer (iOS)", "swift|swiftui|"
            "objective-c|xcode", "build our iPhone and iPad apps|ship native features to the App Store",
            "android", "iOS developers", 4),
    _family("android", "Android Developer|Android Engineer|Mobile Engineer (Android)",
            "kotlin|java|jetpack compose|gradle", "build our Android app|"
            "ship native features to Google Play", "ios", "Android developers", 4),
    _family("data_eng", "Data Engineer|Analytics Engineer|Big Data Engineer", "python|sql|spark|"
            "airflow|dbt|snowflake|kafka", "build reliable batch and streaming data pipelines|"
            "model the warehouse our analysts rely on", "data_science|ml", "data engineers", 7),
    _family("data_science", "Data Scientist|Applied Scientist|Data Analyst", "python|sql|"
            "statistics|r|pandas|tableau", "answer product questions with experiments and data|"
            "build forecasting and pricing models", "data_eng|ml", "data scientists", 6),
    _family("ml", "Machine Learning Engineer|ML Engineer|AI Engineer|MLOps Engineer", "python|"
            "pytorch|tensorflow|llm|kubernetes|mlflow", "train, evaluate and serve models in "
            "production|build the search and assistant features of our product", "data_science",
            "machine learning engineers", 6),
    _family("devops", "DevOps Engineer|Site Reliability Engineer|Platform Engineer|Cloud Engineer|"
            "Infrastructure Engineer", "kubernetes|terraform|aws|docker|linux|gcp|ansible|"
            "prometheus", "run our container platform and cloud infrastructure|"
            "own monitoring, on-call and incident reviews|build CI/CD that developers love",
            "security|dba", "platform engineers", 9),
    _family("security", "Security Engineer|Application Security Engineer|Cloud Security Engineer",
            "appsec|aws|python|penetration testing|siem", "find and fix vulnerabilities before "
            "attackers do|harden our cloud accounts and review designs", "devops",
            "security engineers", 3),
    _family("qa", "QA Engineer|Test Automation Engineer|Software Engineer in Test", "selenium|"
            "playwright|cypress|python|java", "automate end-to-end tests|own release quality",
            "", "QA engineers", 3),
    _family("dba", "Database Administrator|Database Reliability Engineer", "postgresql|mysql|"
            "replication|performance tuning|sql", "keep our databases fast, backed up and "
            "replicated|plan upgrades and capacity", "devops|backend", "database administrators", 2),
    _family("design", "Product Designer|UX Designer|UI/UX Designer", "figma|user research|"
            "prototyping|design systems", "design flows from research to polished screens|"
            "run usability studies with customers", "", "designers", 5),
    _family("pm", "Product Manager|Technical Product Manager|Product Owner", "roadmapping|"
            "analytics|agile|sql|user interviews", "decide what we build next, with evidence|"
            "write clear specs and measure outcomes", "", "product managers", 5),
    _family("em", "Engineering Manager|Head of Engineering|Team Lead", "leadership|hiring|agile|"
            "mentoring", "grow a team of engineers and their careers|"
            "own delivery and technical direction", "", "engineering managers", 3),
    _family("writer", "Technical Writer|Documentation Engineer", "markdown|api documentation|"
            "docs-as-code", "write guides and API references developers love", "",
            "technical writers", 2),
    _family("support", "Customer Support Specialist|Technical Support Engineer|"
            "Customer Success Manager", "zendesk|saas|sql|communication", "help customers solve "
            "problems quickly and kindly|turn support tickets into product feedback", "",
            "support specialists", 4),
    _family("sales", "Account Executive|Sales Development Representative|Sales Engineer",
            "salesforce|b2b saas|negotiation|hubspot", "win and grow accounts with mid-size "
            "companies|run demos and close deals", "", "sales colleagues", 4),
    _family("marketing", "Marketing Manager|Growth Marketer|Content Marketing Manager", "seo|"
            "hubspot|google ads|copywriting", "plan campaigns that bring in qualified leads|"
            "write content our audience shares", "", "marketers", 3),
)
FAMILY = {f.key: f for f in FAMILIES}

# Seniority, and the word a title carries for it ("" for mid-level).
SENIORITIES = (("junior", "Junior"), ("mid", ""), ("senior", "Senior"), ("staff", "Staff"),
               ("lead", "Lead"))

# city, country, region (remote postings are open to a region or worldwide)
CITIES = (
    ("Berlin", "Germany", "EU"), ("Munich", "Germany", "EU"), ("Amsterdam", "Netherlands", "EU"),
    ("Lisbon", "Portugal", "EU"), ("Paris", "France", "EU"), ("Barcelona", "Spain", "EU"),
    ("Stockholm", "Sweden", "EU"), ("Dublin", "Ireland", "EU"), ("London", "UK", "EU"),
    ("New York", "USA", "US"), ("San Francisco", "USA", "US"), ("Austin", "USA", "US"),
    ("Seattle", "USA", "US"), ("Toronto", "Canada", "US"), ("Singapore", "Singapore", "APAC"),
    ("Sydney", "Australia", "APAC"),
)
CITY = {c[0]: c for c in CITIES}
REGION_NAMES = {"EU": "Europe", "US": "North America", "APAC": "Asia-Pacific"}

# company, what it does, its headquarters
COMPANIES = (
    ("Northwind Labs", "builds analytics software for retailers", "London"),
    ("Acme Analytics", "helps finance teams close their books faster", "New York"),
    ("Bluefin Health", "runs telehealth clinics for rural patients", "Austin"),
    ("Quillstack", "makes a writing tool for legal teams", "Dublin"),
    ("Orbital Freight", "plans routes for European trucking companies", "Amsterdam"),
    ("Lumen Robotics", "builds warehouse robots", "Munich"),
    ("Tidepool Finance", "offers savings accounts through an app", "Berlin"),
    ("Kestrel Games", "makes mobile strategy games", "Stockholm"),
    ("Mosaic Learning", "teaches languages online", "Barcelona"),
    ("Parcelwise", "tracks parcels for online shops", "Lisbon"),
    ("Verdant Energy", "sells solar power to households", "Berlin"),
    ("Hexagon Bio", "designs proteins with machine learning", "San Francisco"),
    ("Sundial Travel", "books trips for business travellers", "Paris"),
    ("Brightline Media", "publishes podcasts and newsletters", "New York"),
    ("Cobalt Payments", "processes card payments for marketplaces", "London"),
    ("Fernhill Insurance", "sells home insurance online", "Toronto"),
    ("Granite Cloud", "hosts databases for developers", "Seattle"),
    ("Harbor Logistics", "runs ports' scheduling software", "Singapore"),
    ("Ironbark Security", "protects companies from phishing", "Sydney"),
    ("Juniper Retail", "runs a chain of grocery stores and their app", "Amsterdam"),
    ("Larkspur AI", "builds AI assistants for customer service", "San Francisco"),
    ("Meridian Maps", "makes maps and geocoding APIs", "Berlin"),
    ("Nimbus Data", "sells a data warehouse as a service", "Seattle"),
    ("Oakline Bank", "is a digital bank for small businesses", "Dublin"),
    ("Quartz Mobility", "rents e-scooters in forty cities", "Paris"),
    ("Redwood Civic", "builds software for city governments", "Austin"),
    ("Saltmarsh Audio", "makes music production software", "Stockholm"),
    ("Tessellate", "builds a design collaboration tool", "Lisbon"),
    ("Vantage Sports", "streams live sports data to broadcasters", "London"),
    ("Wavelength Telecom", "runs a mobile network", "Munich"),
    ("Yarrow Health", "makes software for pharmacies", "Toronto"),
    ("Zephyr Air", "is a regional airline", "Barcelona"),
)
COMPANY = {c[0]: c for c in COMPANIES}
# Nice-to-haves any posting may name, beside its own family's and related families' skills.
COMMON_EXTRAS = ("sql", "git", "jira", "english", "german", "spanish")
