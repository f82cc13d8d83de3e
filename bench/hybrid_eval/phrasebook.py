"""The words the evaluation set is made of: facets with memory-side and query-side
phrasings, and the pools of names, codes and values that fill them.

A *facet* is one thing worth remembering (the stand-up time, a person's preferred
channel, a project's deadline). Each has several ways a memory might state it and
several ways someone might ask for it, written with **different content words** on the
two sides: "The daily sync happens at 9:30" is asked for as "When is our regular
stand-up meeting?". That is what a paraphrase is, and why word matching (BM25, or the
word-hashing `HashingEmbedder`) cannot find these memories while an embedder that
learned meaning can. `tests/test_hybrid_eval_set.py` checks the sides share few content
words. Slots: ``{e}`` the entity (a person, project or customer), ``{v}`` a value from
the facet's pool, ``{p}`` another person of the team.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Facet:
    """One kind of fact: how memories state it and how queries ask for it."""

    key: str
    memories: tuple[str, ...]
    queries: tuple[str, ...]
    values: tuple[str, ...] = ("",)
    kind: str = "semantic"


# Team-wide facts: no entity, so the meaning alone identifies the memory (paraphrase queries).
TEAM_FACETS = (
    Facet(
        "standup",
        (
            "The daily sync happens at {v} every weekday.",
            "Everyone gathers for the morning huddle at {v}.",
            "Our recurring check-in starts at {v} sharp.",
        ),
        (
            "When is our regular stand-up meeting?",
            "What time do we have the team standup?",
        ),
        ("9:00", "9:30", "10:00", "10:15", "11:00"),
        "procedural",
    ),
    Facet(
        "wifi",
        (
            "The office network passphrase is changed every {v}.",
            "We reset the password for the building's wireless every {v}.",
        ),
        (
            "How often do the wifi credentials get rotated?",
            "How frequently is the internet login at work updated?",
        ),
        ("Monday", "month", "quarter", "two weeks"),
        "procedural",
    ),
    Facet(
        "expenses",
        (
            "Purchases above {v} need sign-off from finance.",
            "Anything costing more than {v} has to be cleared with accounting first.",
        ),
        (
            "What is the spending cap before I must get approval?",
            "Up to what amount can I buy things without asking permission?",
        ),
        ("$500", "$1,000", "$250", "$2,000"),
        "procedural",
    ),
    Facet(
        "leave",
        (
            "Staff get {v} days of paid leave per year.",
            "Each employee is entitled to {v} vacation days annually.",
        ),
        (
            "How much holiday time do we receive?",
            "How much time off does a person have in twelve months?",
        ),
        ("25", "28", "30", "20"),
    ),
    Facet(
        "freeze",
        (
            "No releases go out on Fridays after {v}.",
            "Deployments are frozen from {v} on Friday until Monday morning.",
        ),
        (
            "When are we not allowed to ship code to production?",
            "Is there a period when pushing changes live is forbidden?",
        ),
        ("noon", "2pm", "3pm", "4pm"),
        "procedural",
    ),
    Facet(
        "oncall",
        (
            "The pager rotation changes hands every {v}.",
            "Whoever carries the pager hands it over on {v}.",
        ),
        (
            "On which weekday does the person responsible for incidents switch?",
            "When does on-call duty move to the next engineer?",
        ),
        ("Monday", "Tuesday", "Wednesday", "Thursday"),
        "procedural",
    ),
    Facet(
        "review",
        (
            "Every pull request requires {v} approvals before merging.",
            "A branch can only be merged once {v} colleagues have approved it.",
        ),
        (
            "How many reviewers must sign off on a code change?",
            "What is the minimum number of people who have to look at my patch?",
        ),
        ("two", "one", "three"),
        "procedural",
    ),
    Facet(
        "backups",
        (
            "Database snapshots are taken nightly and kept for {v} days.",
            "Nightly dumps of the databases are retained for {v} days.",
        ),
        (
            "How long do we hold on to copies of our data?",
            "What is the retention window for stored archives?",
        ),
        ("30", "14", "90", "7"),
        "procedural",
    ),
    Facet(
        "lunch",
        (
            "Team lunch is on {v}, usually at the Thai place.",
            "On {v} everybody goes out to eat together.",
        ),
        (
            "Which day do colleagues share a meal?",
            "When is the group outing for food?",
        ),
        ("Thursday", "Friday", "Wednesday"),
        "episodic",
    ),
    Facet(
        "remote",
        (
            "Working from home is allowed {v} days a week.",
            "People may stay at home and work {v} days each week.",
        ),
        (
            "How often can staff do their jobs remotely?",
            "What is the policy on telecommuting?",
        ),
        ("two", "three", "four"),
    ),
    Facet(
        "docs_language",
        (
            "Internal documentation is written in {v}.",
            "Wiki pages and design notes are kept in {v}.",
        ),
        (
            "What language should our knowledge base use?",
            "Which tongue do we use for technical writing?",
        ),
        ("English", "German", "French", "Spanish"),
    ),
    Facet(
        "support_hours",
        (
            "The help desk answers tickets from {v}.",
            "Our service desk is staffed {v} on weekdays.",
        ),
        (
            "During what times is customer assistance available?",
            "When can clients get someone on the line for problems?",
        ),
        ("8am to 6pm", "9am to 5pm", "7am to 7pm"),
        "procedural",
    ),
    Facet(
        "payment_terms",
        (
            "Clients are billed net {v}.",
            "Invoices fall due {v} days after they are issued.",
        ),
        (
            "How long do customers have to pay what they owe?",
            "What deadline do buyers get to settle an amount?",
        ),
        ("30", "45", "60"),
    ),
    Facet(
        "phishing",
        (
            "Phishing awareness training is mandatory every {v}.",
            "Everyone must redo the phishing course each {v}.",
        ),
        (
            "How frequently do we have to complete the lesson on fraudulent e-mails?",
            "When is the scam recognition workshop due again?",
        ),
        ("year", "six months", "quarter"),
        "procedural",
    ),
    Facet(
        "vault",
        (
            "Credentials must be stored in {v}.",
            "Passwords and API keys belong in {v}, nowhere else.",
        ),
        (
            "Where should I keep my logins and secrets?",
            "What tool do we use to save access tokens safely?",
        ),
        ("1Password", "Bitwarden", "the team vault", "HashiCorp Vault"),
        "procedural",
    ),
    Facet(
        "travel",
        (
            "Flights longer than {v} hours may be booked in business class.",
            "Business class is permitted on journeys over {v} hours.",
        ),
        (
            "When can I fly premium on a work trip?",
            "Are upgraded airline seats reimbursed for company travel?",
        ),
        ("six", "eight", "ten"),
    ),
    Facet(
        "parking",
        (
            "Visitors should leave their cars in the garage on {v}.",
            "Guests get a parking spot in the basement off {v}.",
        ),
        (
            "Where can people coming to the office put their vehicle?",
            "What should someone visiting do with an automobile when they arrive?",
        ),
        ("Elm Street", "Harbour Road", "King Street", "Mill Lane"),
    ),
    Facet(
        "outages",
        (
            "Outages are announced in the {v} channel.",
            "Post service disruptions in {v} so everyone sees them.",
        ),
        (
            "Where do we tell people when the platform goes down?",
            "Which chat is used to report downtime?",
        ),
        ("#ops-alerts", "#incidents", "#status", "#war-room"),
        "procedural",
    ),
    Facet(
        "mentors",
        (
            "New hires are paired with a mentor for their first {v} weeks.",
            "Newcomers shadow an experienced teammate for {v} weeks.",
        ),
        (
            "How long do recently joined employees get a buddy?",
            "For what period is onboarding guidance given to a recruit?",
        ),
        ("four", "six", "eight"),
    ),
    Facet(
        "timezone",
        (
            "The team operates on {v} time.",
            "All deadlines are set in {v}.",
        ),
        (
            "Which timezone are our meetings planned in?",
            "What clock do we schedule things by?",
        ),
        ("Central European", "Pacific", "UTC", "Eastern"),
    ),
    Facet(
        "release_cadence",
        (
            "A new version of the app is published every {v}.",
            "We cut a release of the mobile client each {v}.",
        ),
        (
            "How often do we ship updates to users?",
            "What is our shipping rhythm for product builds?",
        ),
        ("two weeks", "month", "week"),
        "procedural",
    ),
    Facet(
        "evacuation",
        (
            "The evacuation assembly point is {v}.",
            "If the fire alarm sounds, meet at {v}.",
        ),
        (
            "Where do we gather in an emergency?",
            "What is the rally spot when the building has to be cleared?",
        ),
        ("the car park", "the fountain in the square", "the north gate"),
        "procedural",
    ),
    Facet(
        "retention",
        (
            "Personal records of former clients are deleted after {v} months.",
            "We purge data about ex-customers {v} months after they leave.",
        ),
        (
            "How long is private information about previous buyers held?",
            "When do we erase what we know about people who stopped using us?",
        ),
        ("six", "twelve", "eighteen"),
        "procedural",
    ),
    Facet(
        "printer",
        (
            "The printer on the {v} floor jams if you use thick paper.",
            "Heavy card stock gets stuck in the {v}-floor printer.",
        ),
        (
            "Which copier keeps breaking down?",
            "Is there a faulty machine for making hard copies?",
        ),
        ("second", "third", "fourth"),
        "episodic",
    ),
    Facet(
        "security_contact",
        (
            "Suspected breaches go straight to {p}.",
            "{p} is the first person to notify about a possible compromise.",
        ),
        (
            "Who do I alert if I think we were hacked?",
            "Whom should I report a cyber attack to?",
        ),
        kind="procedural",
    ),
)

# Facts about a person: the name is shared by several memories (mixed queries).
PERSON_FACETS = (
    Facet(
        "contact",
        (
            "{e} would rather get messages by {v} than phone calls.",
            "{e} asked us to use {v} instead of ringing.",
        ),
        (
            "What is the best way to get in touch with {e}?",
            "How does {e} like to be reached?",
        ),
        ("email", "Slack", "text message", "Teams chat"),
        "user_profile",
    ),
    Facet(
        "diet",
        (
            "{e} is vegetarian and avoids {v}.",
            "{e} cannot have {v} because of an allergy.",
        ),
        (
            "What food should I not order for {e}?",
            "Any meal restrictions for {e}?",
        ),
        ("nuts", "shellfish", "gluten", "dairy"),
        "user_profile",
    ),
    Facet(
        "birthday",
        (
            "{e} was born on {v}.",
            "{e} turns a year older on {v}.",
        ),
        (
            "When is {e}'s birthday?",
            "What date should we celebrate for {e}?",
        ),
        ("3 March", "17 July", "9 November", "22 January", "30 August"),
        "user_profile",
    ),
    Facet(
        "role",
        (
            "{e} leads the {v} group.",
            "{e} heads up {v}.",
        ),
        (
            "Which department does {e} manage?",
            "What is {e} in charge of at work?",
        ),
        ("data platform", "billing", "mobile", "infrastructure", "design"),
    ),
    Facet(
        "location",
        (
            "{e} works out of {v}.",
            "{e} lives in {v} and commutes rarely.",
        ),
        (
            "Where is {e} based?",
            "In which city is {e}?",
        ),
        ("Lisbon", "Kraków", "Toronto", "Nairobi", "Osaka", "Austin"),
        "user_profile",
    ),
    Facet(
        "manager",
        (
            "{e} reports to {p}.",
            "{p} is the line manager of {e}.",
        ),
        (
            "Who is {e}'s boss?",
            "Whom does {e} answer to?",
        ),
    ),
    Facet(
        "hours",
        (
            "{e} is usually offline after {v}.",
            "{e} logs off around {v} most days.",
        ),
        (
            "Until when can I reach {e} during the day?",
            "What time does {e} stop working?",
        ),
        ("4pm", "5pm", "6pm", "7pm"),
        "user_profile",
    ),
    Facet(
        "format",
        (
            "{e} likes updates as {v}.",
            "Send {e} {v}; long prose gets ignored.",
        ),
        (
            "How should I write reports for {e}?",
            "In what form does {e} want information presented?",
        ),
        ("short bullet lists", "a one-page summary", "a quick chart", "three lines at most"),
        "user_profile",
    ),
    Facet(
        "hobby",
        (
            "{e} spends weekends {v}.",
            "Outside the office {e} is always {v}.",
        ),
        (
            "What does {e} do for fun?",
            "Any pastimes {e} enjoys?",
        ),
        ("climbing", "sailing", "baking bread", "running marathons", "painting"),
        "user_profile",
    ),
)

# Facts about a project: the codename is shared by several memories (mixed queries).
PROJECT_FACETS = (
    Facet(
        "deadline",
        (
            "{e} must be delivered by {v}.",
            "The {e} launch is locked for {v}.",
        ),
        (
            "When is {e} due?",
            "What's the target date to finish {e}?",
        ),
        ("the end of June", "15 September", "Q3", "1 December"),
    ),
    Facet(
        "budget",
        (
            "{e} has {v} allocated for the year.",
            "Funding for {e} is capped at {v}.",
        ),
        (
            "How much money can we spend on {e}?",
            "What are the finances of {e}?",
        ),
        ("$120k", "$80k", "$250k", "$40k"),
    ),
    Facet(
        "owner",
        (
            "{p} is accountable for {e}.",
            "{e} is run by {p}.",
        ),
        (
            "Who leads {e}?",
            "Which person owns {e}?",
        ),
    ),
    Facet(
        "risk",
        (
            "The biggest threat to {e} is the dependency on {v}.",
            "{e} could slip if {v} is late again.",
        ),
        (
            "What might make {e} fail?",
            "What is the main danger for {e}?",
        ),
        ("the payments vendor", "the new auth service", "the data migration", "legal approval"),
    ),
    Facet(
        "stack",
        (
            "{e} is built with {v}.",
            "The code of {e} is written in {v}.",
        ),
        (
            "What technology does {e} use?",
            "Which programming tools power {e}?",
        ),
        ("Rust and Postgres", "Django", "Kotlin", "TypeScript and React", "Go"),
        "procedural",
    ),
    Facet(
        "status",
        (
            "{e} is paused while {v}.",
            "Work on {e} is on hold until {v} is resolved.",
        ),
        (
            "Is {e} still moving forward?",
            "Are we actively progressing {e} right now?",
        ),
        ("the contract is renegotiated", "the security audit", "hiring", "the vendor dispute"),
        "episodic",
    ),
)

# Facts about a customer: the company name is shared by several memories (mixed queries).
CUSTOMER_FACETS = (
    Facet(
        "renewal",
        (
            "{e}'s contract renews on {v}.",
            "The agreement with {e} comes up for renewal in {v}.",
        ),
        (
            "When does the deal with {e} expire?",
            "How long is {e} signed up for?",
        ),
        ("April", "October", "January", "July"),
    ),
    Facet(
        "account_owner",
        (
            "{p} handles the {e} account.",
            "{e} is looked after by {p}.",
        ),
        (
            "Who is our main point of contact for {e}?",
            "Which colleague manages the relationship with {e}?",
        ),
    ),
    Facet(
        "complaint",
        (
            "{e} complained that {v}.",
            "{e} is annoyed because {v}.",
        ),
        (
            "Is {e} unhappy about anything?",
            "What problems has {e} raised with us?",
        ),
        (
            "deliveries keep arriving late",
            "invoices have the wrong VAT number",
            "the dashboard is slow",
            "support takes days to answer",
        ),
        "episodic",
    ),
    Facet(
        "pays_by",
        (
            "{e} pays by {v} only.",
            "{e} settles bills through {v}.",
        ),
        (
            "How does {e} send us money?",
            "What payment method does {e} use?",
        ),
        ("wire transfer", "credit card", "direct debit", "cheque"),
    ),
    Facet(
        "volume",
        (
            "{e} buys about {v} a month.",
            "Monthly, {e} takes roughly {v}.",
        ),
        (
            "How much does {e} typically order?",
            "What quantity does {e} purchase regularly?",
        ),
        ("40 pallets", "300 licences", "12 containers", "2,000 units"),
    ),
)

FIRST_NAMES = (
    "Dana", "Marco", "Priya", "Tomasz", "Aisha", "Kenji", "Lucía", "Olu", "Freya", "Mateus",
    "Ines", "Ravi", "Sofia", "Björn", "Chen", "Amara", "Zofia", "Hugo", "Noor", "Elif",
    "Joaquín", "Maeve", "Tariq", "Yuki", "Greta", "Kwame", "Rosa", "Anders", "Leila", "Siobhán",
)  # fmt: skip
LAST_NAMES = (
    "Whitfield", "Okonkwo", "Iyer", "Wróbel", "Haddad", "Tanaka", "Ibáñez", "Adeyemi",
    "Lindqvist", "Costa", "Moreau", "Patel", "Romano", "Åkesson", "Zhao", "Mensah", "Novak",
    "Lefebvre", "Rahimi", "Yılmaz", "Ferreira", "O'Connell", "Qureshi", "Sato", "Brandt",  # noqa: RUF001
    "Boateng", "Delgado", "Holm", "Karimi", "Byrne",
)  # fmt: skip
PROJECTS = (
    "Halcyon", "Bluefin", "Quokka", "Marigold", "Tessellate", "Zephyr", "Obsidian", "Kestrel",
    "Juniper", "Nimbus", "Saffron", "Vortex", "Lumen", "Cobalt", "Ember", "Fjord", "Aurora",
    "Basalt", "Cirrus", "Dynamo", "Falcon", "Gossamer", "Heron", "Indigo",
)  # fmt: skip
CUSTOMERS = (
    "Vantrex Logistics", "Brightwell Foods", "Korvath Mining", "Pellucid Health",
    "Ostara Textiles", "Quillfeather Press", "Ramsgate Marine", "Solvane Energy",
    "Tidemark Retail", "Umbrel Insurance", "Wexford Dairy", "Yarrow Pharma", "Zentia Robotics",
    "Aldmere Hotels", "Corvid Security", "Dunmore Steel",
)  # fmt: skip

# Record templates: the same words in every record of a kind; only the code tells them apart.
ORDER_MEMORIES = (
    "Order {code} from {cust}: {qty} units of {sku}, {status} on {date}.",
    "{cust} placed order {code} for {qty} x {sku}; it was {status} on {date}.",
)
ORDER_STATUSES = ("shipped", "delivered", "cancelled", "delayed at customs", "returned")
# What else gets written about an order or an incident: each aspect with how it is
# asked for (in other words, by the identifier): the mixed queries that need both lists.
ORDER_ASPECTS = (
    Facet(
        "refund",
        ("Refund issued for {code} after the parcel arrived damaged.",),
        ("Did we give the money back on {code}?", "Was {code} reimbursed?"),
    ),
    Facet(
        "courier",
        ("{cust} called about {code}: the courier left it at the wrong depot.",),
        ("Where did the delivery of {code} end up?", "Was {code} dropped off somewhere odd?"),
    ),
    Facet(
        "missing",
        ("Replacement sent for {code}; the first box was missing two items.",),
        ("Was anything absent from the package for {code}?", "Did {code} arrive incomplete?"),
    ),
    Facet(
        "address",
        ("Shipping address for {code} changed to the {site} warehouse.",),
        ("Is {code} going to a new destination?", "Did the customer reroute {code}?"),
    ),
)
INCIDENT_ASPECTS = (
    Facet(
        "cause",
        ("Root cause of {code}: {cause}.", "Postmortem for {code} says {cause}."),
        ("Why did {code} happen?", "What triggered {code}?"),
    ),
    Facet(
        "fix",
        ("Resolved {code} by {fix}.",),
        ("How did we get rid of {code}?", "What made {code} go away?"),
    ),
    Facet(
        "paged",
        ("{p} was paged for {code} at 3am.",),
        ("Who got woken up by {code}?", "Which engineer responded to the {code} alert?"),
    ),
    Facet(
        "impact",
        ("{code} blocked checkout for {n} minutes for {cust}.",),
        ("How bad was the outage from {code} for clients?", "Did {code} hurt customers?"),
    ),
)
INCIDENT_FIXES = (
    "rolling back the last deploy",
    "raising the connection limit",
    "rotating the certificate",
    "clearing the stuck queue",
    "adding an index to the jobs table",
)
ORDER_QUERIES = (
    "Any news on order {code}?",
    "The customer wants to know where {code} is",
    "what happened with the shipment for {code}",
    "give me the status of {code}",
)
INCIDENT_MEMORIES = (
    "The {service} worker crashed with {code} during the nightly sync; {p} restarted it.",
    "Saw {code} again from the {service} service after the config change.",
)
INCIDENT_CAUSES = (
    "an expired TLS certificate on the load balancer",
    "the connection pool was exhausted by a retry storm",
    "a full disk on the queue host",
    "a bad DNS record after the migration",
    "a schema change deployed before the code that needed it",
)
INCIDENT_QUERIES = (
    "have we hit {code} before?",
    "what do we know about {code}",
    "how was {code} fixed last time",
)
SERVICES = ("billing", "search", "ingest", "notifications", "checkout", "reporting", "auth")
ERROR_WORDS = (
    "CONN", "REFUSED", "TIMEOUT", "TLS", "HANDSHAKE", "DISK", "FULL", "QUOTA", "AUTH",
    "DENIED", "SCHEMA", "MISMATCH", "UPSTREAM", "RESET", "POOL", "EXHAUSTED",
)  # fmt: skip
INVOICE_MEMORIES = (
    "Invoice {code} for {amount} to {cust} is {n} days overdue.",
    "{cust} disputes invoice {code} ({amount}); finance is checking it.",
)
INVOICE_QUERIES = (
    "was {code} paid?",
    "what's the story with bill {code}",
)
TICKET_MEMORIES = (
    "Ticket {code}: {cust} cannot log in after the password reset.",
    "Support ticket {code} from {cust} reports exports failing with a blank file.",
    "Ticket {code} says {cust} sees duplicate charges on the monthly statement.",
)
TICKET_QUERIES = (
    "who opened {code}?",
    "what is {code} about",
)
SKU_MEMORIES = (
    "Stock of {code} at the {site} depot is down to {n} units.",
    "{code} is back-ordered at {site} until the supplier ships more.",
)
SKU_QUERIES = (
    "how many {code} do we have left?",
    "can we still sell {code}",
)
SITES = ("Rotterdam", "Leeds", "Memphis", "Lyon", "Gdańsk", "Reno")
FILLERS = (
    "Lunch with {p} and {q}: talked about {proj} and the {cust} account.",
    "{p} is out sick today; {q} covers the {proj} stand-up.",
    "Reminder: {p} owes {q} a reply about {proj}.",
    "{p} shared slides on {proj} in the all-hands.",
    "Coffee chat with {p} about career growth.",
    "{q} and {p} paired on a bug in {proj} for the {cust} rollout.",
    "{p} asked whether {cust} still uses the old API.",
)
