"""Topics in the format of the Summary of a Haystack release (Laban et al. 2024), generated: no real data.

As in the release's data/topic_{news,conv}<k>.json (and the rows of the hub copy's single `train` split):
- a topic has `topic_id`, `topic`, `topic_metadata` (news: seed `articles`; conversations: `participants`),
  `subtopics` and `documents`; every id is a 24-character base62 string;
- a subtopic has `subtopic_id`, `subtopic_name`, `subtopic`, `insights` (`insight_id`, `insight_name`,
  `insight`), a `query` (the subtopic as a question), `retriever` ({method: {document_id: score}}),
  `summaries` ({method: [bullet lines]}) and `eval_summaries` ({method: [{insight_id, coverage, bullet_id}]});
- a document has `document_id`, `document_text` (news: a title and paragraphs; conversations: one
  "Speaker: ..." turn per line), `document_metadata` (a dict: `plan` of subtopic -> insight ids, `topic`,
  and `article_source` or `participants`), `insights_included`, `idx`, and `label_<id>` for every subtopic
  (how many of its insights the document includes) and insight (1 when included, else 0) of the topic;
- every insight is included by several documents (5-20 here), each time PARAPHRASED, never copied:
  synonyms, inflections, clauses turned round, numbers written as words or with other separators; its facts
  said in one sentence or in one sentence each (sometimes with another sentence between them), and now and
  then only in part; the documents' other sentences are filler on the topic's vocabulary.

`make_topic` also returns where each paraphrase went, {(document_id, insight_id): the paraphrase}, for tests.
"""

from __future__ import annotations

import json
import random
import string
from pathlib import Path
from typing import Any

BASE62 = string.digits + string.ascii_letters
SYLLABLES = ["var", "nol", "ka", "ren", "dor", "mi", "ste", "lan", "bri", "to", "vel", "sa", "gun", "the", "ro", "ma"]
FIRST_NAMES = ["Anna", "Marek", "Ilse", "Tomas", "Greta", "Pavel", "Leona", "Oskar", "Vera", "Henrik", "Nadia"]
SURNAMES = ["Varga", "Lindqvist", "Moreau", "Halden", "Kessler", "Ortega", "Brandt", "Novak", "Sorel"]
NUMBER_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty"
).split()
TENS_WORDS = {30: "thirty", 40: "forty", 50: "fifty", 60: "sixty", 70: "seventy", 80: "eighty", 90: "ninety"}
MONTHS = ["January", "March", "April", "June", "September", "October", "November"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
PROJECTS = ["tram line", "harbour bridge", "cable car", "ring road", "metro extension", "ferry terminal"]
FACILITIES = ["assembly plant", "paper mill", "brewery", "shipyard", "bottling plant"]
PRODUCTS = ["Falcon GT", "Ranger 400", "Corsa X", "Vela Sport", "Titan V8"]
BODIES = ["regional government", "city council", "transport authority", "state ministry", "port authority"]
GROUPS = ["Shop owners", "Taxi drivers", "Market traders", "Restaurant owners", "Hotel managers"]
STREETS = ["Mill Street", "Harbour Road", "Linden Avenue", "Market Square", "Church Lane"]
DIRECTIONS = ["north", "south", "east", "west"]
MARKETS = [("the U.S.", "Canada"), ("Germany", "Austria"), ("France", "Belgium"), ("Japan", "Korea")]

# One insight kind: its name, the statement the release lists under the subtopic, and its facts, each with
# ways a document may say it as a sentence of its own (synonyms, other inflections, numbers in words, clauses
# turned round). A document says all facts in one sentence, or one sentence per fact, now and then with
# another sentence between them, or rarely only the last fact; never the statement itself.
FRAMES: list[dict[str, Any]] = [
    {
        "name": "cost rise",
        "insight": "The projected cost of the {project} in {place} rose from {a} million to {b} million euros, "
        "mainly because steel prices increased and the tunnel section had to be redesigned.",
        "facts": [
            [
                "The estimated price of {place}'s {project} has climbed from {a} million euros to {b} million.",
                "The {project} in {place} is now expected to cost {b} million euros instead of {a} million.",
                "Projected costs for the {project} in {place} have risen to {b} million euros from {a} million.",
            ],
            [
                "The main reason is the rising price of steel.",
                "Steel has become far more expensive.",
                "Above all, the price of steel went up.",
            ],
            [
                "The tunnel section also needed a new design.",
                "Engineers were forced to redesign the tunnel section.",
                "The section through the tunnel was drawn up again.",
            ],
        ],
    },
    {
        "name": "funding share",
        "insight": "The {body} agreed to pay {pct} percent of the construction costs of the {project}, on "
        "condition that the city covers any overruns and the works start before {year}.",
        "facts": [
            [
                "Under the deal, the {body} will cover {pct_words} percent of what building the {project} costs.",
                "{pct}% of the construction bill for the {project} is to be paid by the {body}.",
                "The {body} has agreed to fund {pct} per cent of the costs of constructing the {project}.",
            ],
            [
                "The city must pay for any overruns itself.",
                "Any cost overruns remain the city's responsibility.",
                "Overruns, however, will be covered by the city alone.",
            ],
            [
                "The money only comes if the works begin before {year}.",
                "Construction has to start before {year} for the agreement to hold.",
                "Work must begin ahead of {year}, the agreement says.",
            ],
        ],
    },
    {
        "name": "business fears",
        "insight": "{group} on {street} fear that {years} years of roadworks will drive customers away, and "
        "several of them have asked the council for compensation.",
        "facts": [
            [
                "On {street}, {group_lower} worry that customers will stay away during {years_words} years of "
                "construction work.",
                "The roadworks, expected to last {years_words} years, could keep customers away from {street}, "
                "{group_lower} fear.",
                "{group} fear that customers will be driven away from {street} by {years_words} years of roadwork.",
            ],
            [
                "Several of them have asked the council to compensate them.",
                "A number of them have requested compensation from the council.",
                "Some are now asking the council for compensation payments.",
            ],
        ],
    },
    {
        "name": "route",
        "insight": "The {project} will connect {stop_a} with the {stop_b} in the {direction} of {place}, serving "
        "{stops} stops along a route of {km} kilometres.",
        "facts": [
            [
                "Its route links {stop_a} to the {stop_b}, in the {direction} of {place}.",
                "Passengers will travel between {stop_a} and the {stop_b} in {place}'s {direction}.",
                "The planned line starts at {stop_a} and ends at the {stop_b} in the {direction} of {place}.",
            ],
            [
                "Along its {km} kilometres it will serve {stops_words} stops.",
                "The route is {km} km long, with {stops} stops.",
                "There will be {stops_words} stops on the {km}-kilometre route.",
            ],
        ],
    },
    {
        "name": "frequency",
        "insight": "Trains on the {project} are planned to run every {minutes} minutes during rush hour and every "
        "{night} minutes at night, with the first departure at {hour} in the morning.",
        "facts": [
            [
                "During rush hours a train is planned every {minutes_words} minutes.",
                "Planners expect trains to run at {minutes}-minute intervals in the rush hour.",
                "In the morning and evening rush, the {project} plans a train every {minutes} minutes.",
            ],
            [
                "At night the interval grows to {night_words} minutes.",
                "Late in the evening trains will come only every {night} minutes.",
                "Night service is planned at {night}-minute intervals.",
            ],
            [
                "The first train leaves at {hour} in the morning.",
                "Services start at {hour_words} o'clock each morning.",
                "Departures begin at {hour} every morning.",
            ],
        ],
    },
    {
        "name": "production run",
        "insight": "{org} intends to produce {n:,} units of the {product} for {market_a} and {m} for {market_b}, "
        "matching the production run of the previous model from {year}.",
        "facts": [
            [
                "{org} plans to build {n:,} {product} cars for {market_a} and {m} for {market_b}.",
                "For {market_a}, {org} will manufacture {n} units of the {product}; another {m} are produced for "
                "{market_b}.",
                "Production of the {product} is capped at {n:,} units for {market_a} plus {m} for {market_b}, "
                "{org} said.",
            ],
            [
                "That mirrors the run of its predecessor in {year}.",
                "The figures match what the earlier model produced in {year}.",
                "The previous model was built in the same numbers in {year}.",
            ],
        ],
    },
    {
        "name": "survey",
        "insight": "A survey by {org} found that {pct} percent of commuters in {place} use public transport daily, "
        "while only {pct2} percent cycle to work.",
        "facts": [
            [
                "According to a survey by {org}, {pct_words} percent of {place}'s commuters take public transport "
                "every day.",
                "{pct}% of commuters in {place} travel by public transport each day, {org} found in its survey.",
                "Daily use of public transport is reported by {pct_words} percent of {place} commuters surveyed by "
                "{org}.",
            ],
            [
                "Cycling to work remains rare at {pct2} percent.",
                "Just {pct2_words} percent of them ride a bicycle to their jobs.",
                "Only {pct2}% said they cycled to work.",
            ],
        ],
    },
    {
        "name": "plant closure",
        "insight": "The {facility} in {place} will close at the end of {year} when production of the {product} "
        "ends, putting about {jobs:,} jobs at risk.",
        "facts": [
            [
                "Production of the {product} ends in {year}, and the {facility} in {place} is closing at the end of "
                "that year.",
                "By the end of {year} the {facility} in {place} will shut its doors, as the {product} goes out of "
                "production.",
                "{place}'s {facility} closes at the end of {year}, once the last {product} has been produced.",
            ],
            [
                "Roughly {jobs:,} jobs are threatened.",
                "Around {jobs} workers could lose their jobs.",
                "Some {jobs:,} jobs may be lost as a result.",
            ],
        ],
    },
    {
        "name": "appointment",
        "insight": "{person} was appointed head of the {body} in {month} {year} after her predecessor resigned "
        "over the delayed tender.",
        "facts": [
            [
                "In {month} {year}, {person} became the new head of the {body}.",
                "The {body} appointed {person} as its head in {month} {year}.",
                "{person} has headed the {body} since {month} {year}.",
            ],
            [
                "Her predecessor had stepped down because the tender was delayed.",
                "The previous head resigned over delays to the tender.",
                "She replaced a predecessor who quit after the tender was held up.",
            ],
        ],
    },
    {
        "name": "safety rules",
        "insight": "Drivers who race the {product} at sanctioned events must install a roll cage and a parachute, "
        "because the car covers a quarter mile in under {sec} seconds.",
        "facts": [
            [
                "A roll cage and a parachute are required for anyone racing the {product} at sanctioned events.",
                "To race the {product} at a sanctioned event, drivers need to fit both a parachute and a roll cage.",
                "Installing a parachute and a roll cage is mandatory for drivers who race a {product} at "
                "sanctioned meetings.",
            ],
            [
                "The car runs the quarter mile in less than {sec} seconds.",
                "Its quarter-mile time is below {sec} seconds.",
                "It needs under {sec_words} seconds for a quarter mile.",
            ],
        ],
    },
    {
        "name": "opening",
        "insight": "More than {visitors:,} visitors attended the opening of the {facility} in {place} on "
        "{weekday}, and the mayor promised free guided tours until the end of {month}.",
        "facts": [
            [
                "On {weekday}, over {visitors:,} people came to the opening of {place}'s new {facility}.",
                "The {facility} in {place} opened on {weekday}, drawing more than {visitors} visitors.",
                "Upwards of {visitors:,} visitors attended when the {place} {facility} opened its gates on {weekday}.",
            ],
            [
                "The mayor promised free guided tours until the end of {month}.",
                "Guided tours will be free through {month}, the mayor said.",
                "Until {month} is over, tours with a guide cost nothing, according to the mayor.",
            ],
        ],
    },
    {
        "name": "ticket price",
        "insight": "Tickets for the {project} will cost {price} euros per ride, the same as bus tickets in "
        "{place}, and monthly passes will be valid on both.",
        "facts": [
            [
                "A ride on the {project} is to cost {price} euros, as much as a bus ticket in {place}.",
                "In {place}, riding the {project} will be priced like the buses: {price} euros per ticket.",
                "Bus and {project} tickets in {place} will cost the same, {price} euros for each ride.",
            ],
            [
                "Monthly passes can be used on both.",
                "A monthly pass covers the buses and the {project} alike.",
                "Season tickets bought by the month will be valid on either.",
            ],
        ],
    },
]
# First words that may be written in lower case when facts are joined into one sentence.
LOWER_OK = frozenset(
    "The A An Its Any Under Roughly Around Some Her She Cycling Late At Night Services Departures Along There "
    "Guided Until Monthly Season That Construction Work Overruns Several Just Only Engineers Steel Above It "
    "During Planners In Passengers Production By On Upwards Bus Installing To Daily According For".split()
)
JOINERS = ["; ", ", and ", " - ", "; in addition, "]
FILLER = [
    "{person} said the {noun} had been discussed for {n} months.",
    "Residents of {place} followed the debate closely.",
    "The {body} will meet again next {weekday}.",
    "Critics asked for an independent review of the {noun}.",
    "A spokesperson declined to comment on the {noun}.",
    "Local newspapers have covered the story since {month}.",
    "Several experts described the {noun} as {adjective}.",
    "The weather in {place} was mild for the season.",
    "Photographs of the old {noun} are on display in the town museum.",
    "{person} thanked the negotiators and called the outcome {adjective}.",
    "Visitors can read more about the history of {place} at the library.",
    "Subscribe to our newsletter for the latest news from {place}.",
    "The opposition called the plans {adjective} and asked for a vote.",
    "A public hearing drew a large crowd on {weekday} evening.",
    "{person} grew up in {place} and studied engineering abroad.",
]
NOUNS = ["budget", "timetable", "contract", "proposal", "depot", "agreement", "tender", "design"]
ADJECTIVES = ["ambitious", "costly", "overdue", "a turning point", "risky", "promising", "unclear"]
CONVERSATION_OPENERS = ["I read that", "Apparently", "Did you hear?", "You know what,", "From what I gathered,"]


def base62_id(rng: random.Random) -> str:
    return "".join(rng.choice(BASE62) for _ in range(24))


def _name(rng: random.Random, parts: int = 2) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(parts)).capitalize()


def _person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(SURNAMES)}"


def _number_words(n: int) -> str:
    return NUMBER_WORDS[n] if n < len(NUMBER_WORDS) else TENS_WORDS.get(n, str(n))


def _slots(rng: random.Random, place: str) -> dict[str, Any]:
    """Values for every frame's slots (each insight draws its own)."""
    pct, pct2 = rng.choice([20, 25, 30, 40, 45, 60, 70]), rng.choice([3, 5, 8, 12, 15])
    minutes, years = rng.choice([4, 5, 6, 8, 10, 12]), rng.choice([2, 3, 4])
    night, hour, sec, stops = rng.choice([15, 20, 30]), rng.choice([4, 5, 6]), rng.choice([9, 10]), rng.randint(8, 19)
    n, m = rng.choice([1200, 2500, 3000, 4500]), rng.choice([150, 300, 400])
    group = rng.choice(GROUPS)
    market_a, market_b = rng.choice(MARKETS)
    return {
        "place": place,
        "project": rng.choice(PROJECTS),
        "facility": rng.choice(FACILITIES),
        "product": rng.choice(PRODUCTS),
        "body": rng.choice(BODIES),
        "org": f"{_name(rng)} {rng.choice(['Motors', 'Institute', 'Group', 'Works'])}",
        "person": _person(rng),
        "group": group,
        "group_lower": group.lower(),
        "street": rng.choice(STREETS),
        "stop_a": f"{_name(rng)} Station",
        "stop_b": rng.choice(["university campus", "airport", "hospital", "stadium", "exhibition centre"]),
        "direction": rng.choice(DIRECTIONS),
        "a": rng.choice([180, 240, 310, 450]),
        "b": rng.choice([520, 610, 780, 1250]),
        "pct": pct,
        "pct_words": _number_words(pct),
        "minutes": minutes,
        "minutes_words": _number_words(minutes),
        "years": years,
        "pct2": pct2,
        "pct2_words": _number_words(pct2),
        "night": night,
        "night_words": _number_words(night),
        "hour": hour,
        "hour_words": _number_words(hour),
        "sec": sec,
        "sec_words": _number_words(sec),
        "stops": stops,
        "stops_words": _number_words(stops),
        "km": rng.choice(["6.5", "9.2", "12.4", "14"]),
        "jobs": rng.choice([450, 800, 1200, 2300]),
        "years_words": _number_words(years),
        "n": n,
        "m": m,
        "total": n + m,
        "market_a": market_a,
        "market_b": market_b,
        "year": rng.choice([2023, 2024, 2025, 2026]),
        "month": rng.choice(MONTHS),
        "weekday": rng.choice(WEEKDAYS),
        "visitors": rng.choice([1500, 2000, 3500, 12000]),
        "price": rng.choice(["2.40", "2.80", "3.10"]),
    }


def _filler_sentence(rng: random.Random, place: str) -> str:
    return rng.choice(FILLER).format(
        person=_person(rng),
        place=place,
        noun=rng.choice(NOUNS),
        n=rng.randrange(2, 30),
        body=rng.choice(BODIES),
        weekday=rng.choice(WEEKDAYS),
        month=rng.choice(MONTHS),
        adjective=rng.choice(ADJECTIVES),
    )


def _say(rng: random.Random, frame: dict[str, Any], slots: dict[str, Any], place: str) -> str:
    """How one document says an insight: every fact in one sentence (35 %), one sentence per fact (62 %,
    a quarter of them with another sentence in between), or only the last fact (3 %)."""
    facts = [rng.choice(alternatives).format(**slots) for alternatives in frame["facts"]]
    if rng.random() < 0.3:  # clauses turned round
        facts = facts[1:] + facts[:1]
    mode = rng.random()
    if mode < 0.03:
        return facts[-1]
    if mode < 0.38:
        out = facts[0].rstrip(".")
        for fact in facts[1:]:
            first, _, rest = fact.partition(" ")
            out += rng.choice(JOINERS) + (first.lower() if first in LOWER_OK else first) + " " + rest.rstrip(".")
        return out + "."
    if rng.random() < 0.25:
        facts.insert(rng.randrange(1, len(facts)), _filler_sentence(rng, place))
    return " ".join(facts)


def _news_text(rng: random.Random, title: str, units: list[str]) -> str:
    """A title, then paragraphs of 2-5 sentences; each unit (a filler or an insight's sentences) stays whole."""
    paragraphs, current = [], []
    for unit in units:
        current.append(unit)
        if len(current) >= rng.randint(2, 5):
            paragraphs.append(" ".join(current))
            current = []
    if current:
        paragraphs.append(" ".join(current))
    return title + "\n\n" + "\n\n".join(paragraphs)


def _conversation_text(rng: random.Random, speakers: list[str], units: list[str], insight_units: set[int]) -> str:
    """One turn per line; an insight's paraphrase sometimes opens with a conversational lead-in."""
    lines = []
    for i, unit in enumerate(units):
        if i in insight_units and rng.random() < 0.4:
            unit = f"{rng.choice(CONVERSATION_OPENERS)} {unit}"
        lines.append(f"{speakers[i % len(speakers)]}: {unit}")
    return "\n".join(lines)


def make_topic(
    seed: int,
    domain: str = "news",
    n_documents: int = 100,
    n_subtopics: int = 5,
    insights_per_subtopic: tuple[int, int] = (4, 6),
    citations: tuple[int, int] = (5, 20),
    filler_sentences: tuple[int, int] = (8, 14),
) -> tuple[dict[str, Any], dict[tuple[str, str], str]]:
    """One topic in the release's format, and {(document_id, insight_id): the paraphrase planted there}."""
    rng = random.Random(f"summhay-release:{domain}:{seed}")
    place = _name(rng, 3)
    topic_title = f"The transport and industry plans of {place}"
    speakers = [_person(rng) for _ in range(rng.randint(2, 4))]
    frames = list(FRAMES)
    rng.shuffle(frames)
    subtopics, insights = [], []  # insights: (subtopic index, id, frame, slots, statement)
    for s in range(n_subtopics):
        subtopic = {
            "subtopic_id": base62_id(rng),
            "subtopic_name": f"aspect {s + 1}",
            "subtopic": f"Aspect {s + 1} of the plans of {place}",
            "insights": [],
        }
        for _ in range(rng.randint(*insights_per_subtopic)):
            frame = frames[len(insights) % len(frames)]
            slots = _slots(rng, place)
            insight = {"insight_id": base62_id(rng), "insight_name": frame["name"]}
            insight["insight"] = frame["insight"].format(**slots)
            subtopic["insights"].append(insight)
            insights.append((s, insight["insight_id"], frame, slots, insight["insight"]))
        subtopics.append(subtopic)
    doc_ids = [base62_id(rng) for _ in range(n_documents)]
    included: list[list[int]] = [[] for _ in range(n_documents)]
    for k in range(len(insights)):
        for d in rng.sample(range(n_documents), min(n_documents, rng.randint(*citations))):
            included[d].append(k)
    planted: dict[tuple[str, str], str] = {}
    documents = []
    for d in range(n_documents):
        units = [_filler_sentence(rng, place) for _ in range(rng.randint(*filler_sentences))]
        said: list[tuple[int, str]] = []
        for k in included[d]:
            _, insight_id, frame, slots, statement = insights[k]
            text = _say(rng, frame, slots, place)
            assert text != statement, "a paraphrase, never the statement itself"
            said.append((k, text))
        insight_units: set[int] = set()
        for _, text in said:
            at = rng.randrange(len(units) + 1)
            units.insert(at, text)
            insight_units = {i + (i >= at) for i in insight_units} | {at}
        if domain == "news":
            text = _news_text(rng, f"{place}: {rng.choice(NOUNS)} under debate", units)
        else:
            text = _conversation_text(rng, speakers, units, insight_units)
        for k, said_text in said:
            assert said_text in text
            planted[(doc_ids[d], insights[k][1])] = said_text
        plan: dict[str, dict[str, Any]] = {}
        for k in included[d]:
            s, insight_id = insights[k][:2]
            entry = plan.setdefault(subtopics[s]["subtopic_id"], {"subtopic": subtopics[s]["subtopic"], "insights": []})
            entry["insights"].append(insight_id)
        metadata: dict[str, Any] = {"plan": plan, "topic": topic_title}
        if domain == "news":
            metadata["article_source"] = f"{_name(rng).lower()}.example"
        else:
            metadata["participants"] = speakers
        doc: dict[str, Any] = {
            "document_id": doc_ids[d],
            "document_text": text,
            "document_metadata": metadata,
            "insights_included": [insights[k][1] for k in included[d]],
            "idx": d,
        }
        for s, subtopic in enumerate(subtopics):
            doc[f"label_{subtopic['subtopic_id']}"] = sum(insights[k][0] == s for k in included[d])
            for insight in subtopic["insights"]:
                doc[f"label_{insight['insight_id']}"] = int(insight["insight_id"] in doc["insights_included"])
        documents.append(doc)
    for s, subtopic in enumerate(subtopics):
        subtopic["query"] = f"What do the documents say about aspect {s + 1} of the plans of {place}?"
        subtopic["retriever"] = {
            method: {doc_id: round(rng.random(), 4) for doc_id in doc_ids} for method in ("keywords", "vector")
        }
        ids = [ins["insight_id"] for ins in subtopic["insights"]]
        bullets = [f"* {ins['insight']} [{rng.randint(1, n_documents)}]" for ins in subtopic["insights"]]
        subtopic["summaries"] = {"summary_subtopic_keywords_model-a": bullets}
        coverage = ["FULL_COVERAGE", "PARTIAL_COVERAGE", "NO_COVERAGE"]
        subtopic["eval_summaries"] = {
            "summary_subtopic_keywords_model-a": [
                {"insight_id": i, "coverage": rng.choice(coverage), "bullet_id": b + 1} for b, i in enumerate(ids)
            ]
        }
    if domain == "news":
        topic_metadata: dict[str, Any] = {
            "articles": [
                {
                    "aid": base62_id(rng),
                    "title": f"{place} weighs its plans",
                    "url": f"https://{_name(rng).lower()}.example/{place.lower()}",
                    "domain": f"{_name(rng).lower()}.example",
                    "content": " ".join(_filler_sentence(rng, place) for _ in range(6)),
                }
            ]
        }
    else:
        topic_metadata = {"participants": speakers}
    topic = {
        "topic_id": base62_id(rng),
        "topic": topic_title,
        "topic_metadata": topic_metadata,
        "subtopics": subtopics,
        "documents": documents,
    }
    return topic, planted


def write_release(
    folder: Path, n_news: int = 5, n_conv: int = 5, seed: int = 0, **sizes: Any
) -> dict[Path, dict[tuple[str, str], str]]:
    """topic_news1.json ... topic_conv<n>.json in `folder`, as the release's data/ folder has them; returns
    each file's planted paraphrases (see make_topic)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for domain, n in (("news", n_news), ("conv", n_conv)):
        for k in range(1, n + 1):
            topic, planted = make_topic(seed * 100 + k, "news" if domain == "news" else "conversation", **sizes)
            path = folder / f"topic_{domain}{k}.json"
            path.write_text(json.dumps(topic, indent=1), encoding="utf-8")
            out[path] = planted
    return out
