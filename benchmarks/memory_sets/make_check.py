"""Regenerate the filler of the held-out check set: the main user's noise and the other users.

The facts and queries in check.json are hand-written and kept as they are; this script only
rebuilds `noise` (low-relevance memories of the main user) and `others` (50 other users, many
facts of the same kinds with other values, a few word-for-word copies of the main user's facts
so a cross-user leak shows). Seeded and standard library only, so the file is reproducible:

    python benchmarks/memory_sets/make_check.py
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

PATH = Path(__file__).with_name("check.json")
SEED = 1818
NOISE = 300
OTHER_USERS = 50
PER_USER = 20

# Noise: things an extractor keeps that rarely matter later. Several share words with real
# answers (Castle Howard, the Knavesmire, passports, Premium Bonds, Hive) so they compete.
NOISE_TEMPLATES: dict[str, list[str]] = {
    "User asked about the weather in {} {}.": [
        "Whitby|Scarborough|Harrogate|Porto|Funchal|Keswick|Blackpool|Malton|Skipton|Seville",
        "once|for the weekend|before a walk|last week|for a hack out",
    ],
    "User asked for a recipe for {}.": [
        "leek and potato soup|gluten-free brownies|parkin|lentil dahl|gluten-free Yorkshire "
        "puddings|vegetable lasagne|banana bread|flapjacks|piccalilli|a nut-free Christmas cake"
    ],
    "User asked how to {}.": [
        "get red wine out of a carpet|bleed a radiator|change the Hive heating schedule|clean "
        "leather tack|descale a kettle|set an out-of-office reply|convert stone to kilograms|fix a "
        "dripping tap|plant tulip bulbs|get rid of greenfly|pick out a horse's hooves|unblock a "
        "sink|take a screenshot on Android|set up a WhatsApp group for the ward|make a pivot table"
    ],
    "User once read an article about {}.": [
        "nurse staffing ratios|the history of York Minster|Florence Nightingale|the Grand "
        "National|colic in horses|sleep and shift work|the menopause at work|NHS waiting "
        "lists|dental care for cats|the Roman walls of York|the Tour de Yorkshire|Viking York"
    ],
    "User finds {} relaxing.": [
        "history podcasts|jigsaw puzzles|watching snooker|the sound of rain|gardening "
        "programmes|a long bath|grooming horses|knitting|walks along the Foss|the crossword"
    ],
    "User mentioned that {}.": [
        "the hospital car park was full again|it rained all weekend|the bins go out on "
        "Thursdays|the neighbours have a new puppy|the bus into town was late|her kettle is making "
        "a noise|the Minster bells were loud this morning|a fox visits the garden at night|the "
        "trains to Manchester were cancelled|the canteen has a new salad bar|the ward had a fire "
        "drill|the heating came on early|the hairdresser moved to Tuesdays|the window cleaner "
        "missed a week|her umbrella broke in the wind|the Co-op had run out of milk"
    ],
    "User asked what {} means.": [
        "capital gains tax|a bond yield|a stock market correction|compound interest|a balance "
        "transfer|a ruby wedding|a Python script|the Rust Belt|a go-live date|agile working|the "
        "cloud|a tracker mortgage|an annuity"
    ],
    "User asked about the price of {}.": [
        "a new saddle pad|winter riding gloves|a heated throw|a slow cooker|reading glasses|a "
        "smart speaker|thermal socks|wellies|a horse rug|a cat water fountain|a fleece dressing "
        "gown|a coffee machine|a dehumidifier"
    ],
    "User said she {}.": [
        "prefers window seats on trains|doesn't like olives|loves the smell of cut grass|has never "
        "been to Cornwall|can't whistle|once met Jayne Torvill|thinks daylight saving is "
        "pointless|doesn't like escalators|used to play netball at school|can't stand musicals|prefers "
        "paper maps|always loses her reading glasses|likes a boiled egg on Sundays|once got "
        "lost in Leeds Arndale|prefers baths to showers"
    ],
    "User watched {} {}.": [
        "an old episode of House|a documentary on the Lost Gardens of Heligan|a rerun of "
        "Friends|the Grand National|Gardeners' World|the snooker final|Monty Python and the Holy "
        "Grail|a Taylor Swift concert film|Pride and Prejudice|the Bake Off final",
        "on a day off|with Graham|last night|on the train",
    ],
    "User asked for directions to {}.": [
        "the Jorvik Viking Centre|the Shambles|York station|Bettys tea room|the National Railway "
        "Museum|the Castle Howard car park|the Turkish Baths in Harrogate|the Knavesmire "
        "entrance|Clifford's Tower|a tack shop in Wetherby"
    ],
    "User asked whether {}.": [
        "the shops open on Boxing Day|parking is free on Sundays in York|it will snow in "
        "January|the river path floods in winter|cats can eat cheese|horses can eat apples|she "
        "needs a TV licence for iPlayer|Premium Bond prizes are taxed|a smart meter is worth "
        "it|pizza boxes can be recycled|passport photos can be taken at the post office"
    ],
    "User asked about {}.": [
        "train times from York to Leeds|parking at Leeds Bradford Airport|flights from "
        "Manchester to Dublin|ferries to Amsterdam|coach trips to Edinburgh|park and ride in "
        "York|how long passport renewals take|opening hours of the tip|Christmas market dates "
        "in York|tickets for the Minster at night"
    ],
    "User asked to convert {}.": [
        "45 pounds to euros|120 pounds to dollars|250 euros to pounds|500 euros to pounds|10 "
        "stone to kilograms|11 stone to kilograms|3 miles to kilometres|5 miles to kilometres|"
        "180 degrees Celsius to gas mark|1,000 dollars to pounds"
    ],
    "User asked what time {} {}.": [
        "the Co-op|the tip|Bettys|the library|the chemist|the post office|the tack shop",
        "closes on Sundays|opens on bank holidays|shuts on Christmas Eve",
    ],
    "User asked for a podcast recommendation about {}.": [
        "true crime|the Tudors|gardening|horses|leadership|the NHS|the Second World War|comedy"
    ],
    "User said it was {} in York {}.": [
        "freezing|foggy|pouring down|unusually warm|windy|icy",
        "this morning|today|on her walk to work|all weekend",
    ],
    "User asked for the {} result.": [
        "Grand National|snooker final|Wimbledon final|rugby league|Boat Race|Eurovision"
    ],
}

NOISE_FIXED = [
    "User asked what the Python programming language is used for in hospital IT.",
    "User saw a python at Chester Zoo years ago and hated it.",
    "User heard the IT team is rewriting the e-rostering system in Rust.",
    "User said she would give cold-water swimming a go one day.",
    "User asked who sang Ruby Tuesday.",
    "User booked Swift Cleaning for an end-of-tenancy quote once.",
    "User said she never got into the TV series Lost.",
    "User finds the series House too gory.",
    "User asked which streaming service has Friends.",
    "User asked whether Premium Bonds or a cash ISA is better in general.",
    "User asked what 'on the balance of probabilities' means.",
    "User asked whether to use a capital letter for 'matron' in a letter.",
    "User asked what happens to share prices when interest rates rise.",
    "User asked if the James Bond films are on Netflix.",
    "User asked how to bond with a nervous rescue horse.",
    "User asked whether the tack shop had long boots in stock.",
    "User asked for the capital of Portugal during a quiz.",
    "User asked how many people live in York.",
    "User asked when the cafe at Beechwood garden centre opens.",
    "User asked what time the York parkrun starts in general.",
    "User asked for a synonym for 'succession' in a crossword.",
    "User asked about the history of the Swift car model.",
    "User asked how interest-free credit works on sofas.",
    "User asked what a stock cube is made of.",
    "User said her sons were arguing about football in the family chat.",
    "User asked about cat insurance prices once.",
    "User asked about the opening times of the Explore York cafe.",
    "User asked what a ward clerk earns out of curiosity.",
    "User asked how old the oldest horse on record was.",
    "User said her mum likes old Cliff Richard songs.",
    "User asked how to spell haemoglobin for a pub quiz.",
    "User asked what the speed limit is on the A64.",
]

FEMALE = "Sarah|Emma|Claire|Priya|Aisha|Helen|Karen|Nicola|Joanne|Rachel|Fiona|Sophie|Zoe|Beth"
MALE = "Mark|Paul|David|James|Andrew|Tom|Raj|Imran|Chris|Gareth|Lee|Olu|Tariq|Ian|Kevin|Steve"
# a relation word in the filled text decides which list a first name comes from
GENDER = {
    "wife": FEMALE,
    "husband": MALE,
    "son": MALE,
    "daughter": FEMALE,
    "brother": MALE,
    "sister": FEMALE,
}
OTHER_TEMPLATES = [
    "User's name is {first} {last}.",
    "User lives in {city}.",
    "User moved to {city} in {month} {year}.",
    "User works as a {job}.",
    "User now works as a {job}.",
    "User's manager is {first} {last}.",
    "User's manager is now {first} {last}.",
    "User's {spouse} {first} is a {job}.",
    "User married {first} on {day} {month} {oldyear}.",
    "User's wedding anniversary is {day} {month}.",
    "User's parents' wedding anniversary is {day} {month}.",
    "User's {kid} {first}, {age}, lives in {city}.",
    "User's mother {first}'s birthday is {day} {month}.",
    "User's {sib} {first} lives in {city}.",
    "User's {sib}'s birthday is {day} {month}.",
    "User was born on {day} {month} {born}.",
    "User's {pet} is called {petname}.",
    "User is allergic to {allergen}.",
    "User's {spouse} {first} is allergic to {allergen}.",
    "User is {diet}.",
    "User drives a {car}.",
    "User's phone is a {phone}.",
    "User's mortgage is fixed at {rate}% interest until {future}.",
    "User has £{money} in Premium Bonds.",
    "User holds {ticker} stock in a trading account.",
    "User keeps a balance of about £{small} on her credit card.",
    "User has a special interest in {interest}.",
    "User is flying to {place} on {day} {tripmonth}.",
    "User has a dentist appointment on {day} {tripmonth}.",
    "User is rewatching {show}.",
    "User has {condmed}.",
    "User wears size {shoe} shoes.",
    "User is on NHS pay Band {band}.",
    "User rides a {horse} called {petname} on Sundays.",
    "User writes {lang} at work every day.",
    "User's favourite band is {band_name}.",
    "User's best friend is {first} {last}, a {job}.",
    "User stopped eating {food} in {year}.",
    "User's {pet} is a {colour} {sex} called {petname}, aged {petage}.",
    "User is the ward manager of the {ward} ward at {hospital}.",
    "User now works as matron for the {ward} wards at {hospital}.",
    "User's mother {first} moved into a care home in {city} in {month} {year}.",
    "User's {kid} {first} got engaged in {month} {year}.",
    "User's {sib} {first} runs a {shop} in {city}.",
    "User's passport expires on {day} {tripmonth}.",
    "User has a CQC inspection on {day} {tripmonth}.",
    "User's car MOT is due on {day} {tripmonth}.",
    "User's {spouse} {first} is having a hip replacement on {day} {tripmonth}.",
    "User shares a {horse} called {petname} at a yard near {city}.",
    "User remortgaged in {year} at {rate}% fixed for five years.",
    "User's Christmas present budget is £{gift} per person.",
    "User's {kid} {first} keeps a {reptile} called {petname}.",
]
VALUES = {
    "last": "Smith|Patel|Khan|Jones|Taylor|Brown|Wilson|Evans|Thomas|Roberts|Walker|Wright|"
    "Robinson|Thompson|White|Hughes|Edwards|Green|Hall|Wood|Clarke|Ahmed|Begum|Murphy|Kelly|Doyle",
    "city": "Leeds|Sheffield|Bradford|Stockport|Salford|Bolton|Wigan|Preston|Harrogate|York|Hull|"
    "Durham|Newcastle|Liverpool|Chester|Lancaster|Bristol|Norwich|Cardiff|Glasgow|Manchester",
    "job": "ward manager at Leeds General Infirmary|staff nurse on a stroke unit|matron at "
    "Sheffield Northern General|practice nurse at a GP surgery|midwife at St Mary's|paramedic|"
    "healthcare assistant|Python developer at a fintech start-up|Rust engineer on embedded "
    "systems|Go backend developer|iOS developer writing Swift|Ruby on Rails contractor|bond "
    "trader|equity stock analyst|venture capital associate|management accountant who reconciles "
    "balance sheets|interest rate strategist at a bank|primary school teacher|electrician|"
    "veterinary nurse|firefighter|pharmacist|care home manager|riding instructor|solicitor",
    "month": "January|February|March|April|May|June|July|August|September|October|November|"
    "December",
    "pet": "cat|dog|horse|rabbit|tortoise|cockapoo|greyhound|pony|tabby cat|budgie",
    "petname": "Biscuit|Pickle|Duchess|Rusty|Monty|Bramble|Toffee|Pepper|Luna|Alfie|Ruby|Swift",
    "car": "Suzuki Swift|Skoda Karoq|Ford Fiesta|Nissan Qashqai|Kia Sportage|VW Golf|Tesla Model 3",
    "phone": "iPhone 11|iPhone 15|Samsung Galaxy S24|Google Pixel 8|Motorola G54|Doro 8100",
    "spouse": "wife|husband|partner",
    "kid": "son|daughter",
    "sib": "brother|sister",
    "allergen": "penicillin|nuts|shellfish|cats|latex|pollen|eggs|ibuprofen",
    "diet": "vegetarian|vegan|pescatarian|gluten-free|on a low-carb diet|dairy-free",
    "interest": "heart failure nursing|Roman history|wildlife photography|tax law|jazz|sepsis care",
    "place": "Tenerife|Madeira|Lanzarote|Malaga|Dublin|New York|Krakow|Reykjavik|Faro",
    "tripmonth": "January 2027|December 2026|February 2027|March 2027|January 2027",
    "show": "Friends|House|Lost|Succession|Call the Midwife|Strictly Come Dancing|The Crown",
    "condmed": "high blood pressure and takes ramipril|asthma and uses a steroid inhaler|type 2 "
    "diabetes and takes metformin|an underactive thyroid and takes levothyroxine|migraines and "
    "takes sumatriptan|coeliac disease and eats gluten-free",
    "horse": "cob mare|bay gelding|grey Connemara|thoroughbred|Welsh pony",
    "lang": "Python|Rust|Go|Swift|Ruby|TypeScript",
    "band_name": "Simply Red|Take That|Oasis|Elbow|Coldplay|The Smiths|Taylor Swift",
    "food": "meat|fish|dairy|sugar|bread",
    "colour": "ginger|black|tabby|grey|white|tortoiseshell",
    "sex": "tom|female|boy|girl",
    "ward": "cardiology|surgical|stroke|respiratory|orthopaedic|elderly care|renal",
    "hospital": "Leeds General Infirmary|York Hospital|Manchester Royal Infirmary|Salford Royal|"
    "Sheffield Northern General|Harrogate District Hospital|Royal Preston Hospital",
    "shop": "chip shop|barber's|florist's|garage|pub|cafe",
    "reptile": "royal python|corn snake|bearded dragon|leopard gecko",
    "ticker": "Tesco|BP|Unilever|Rolls-Royce|Apple",
}


def _fill(rng: random.Random, template: str) -> str:
    """Fill every {slot} of an other-user template with a random plausible value."""
    pools: dict[str, list[str]] = {k: v.split("|") for k, v in VALUES.items()}
    nums = {
        "year": str(rng.randint(2022, 2026)),
        "oldyear": str(rng.randint(1985, 2020)),
        "born": str(rng.randint(1955, 2000)),
        "future": str(rng.randint(2026, 2031)),
        "day": str(rng.randint(1, 28)),
        "age": str(rng.randint(3, 34)),
        "petage": str(rng.randint(1, 18)),
        "rate": f"{rng.randint(15, 55) / 10:.1f}",
        "money": f"{rng.randint(2, 60) * 500:,}",
        "small": f"{rng.randint(2, 60) * 50:,}",
        "gift": str(rng.randint(2, 20) * 10),
        "shoe": str(rng.randint(4, 11)),
        "band": rng.choice(["5", "6", "7", "8a", "8b"]),
    }
    values = {k: rng.choice(v) for k, v in pools.items()} | nums
    names = f"{FEMALE}|{MALE}"
    for key in ("spouse", "kid", "sib"):
        if "{" + key + "}" in template:
            names = GENDER.get(values[key], names)
    if "mother" in template:
        names = FEMALE
    values["first"] = rng.choice(names.split("|"))
    text = template.format(**values)
    return re.sub(r"\ba ([AEIOUaeiou])", r"an \1", text)


def noise(rng: random.Random) -> list[dict[str, Any]]:
    """The main user's low-relevance memories: the keyword traps plus template expansions."""
    first: list[str] = []
    spare: list[str] = []
    for template, slots in NOISE_TEMPLATES.items():
        options = [s.split("|") for s in slots]
        filled = sorted({template.format(*(rng.choice(o) for o in options)) for _ in range(120)})
        rng.shuffle(filled)
        # at most 24 per template first, so no single kind of chatter dominates
        first += filled[:24]
        spare += filled[24:]
    rng.shuffle(first)
    rng.shuffle(spare)
    rows = [*NOISE_FIXED, *first, *spare][:NOISE]
    return [
        {"id": f"n{i:03d}", "text": t, "days_ago": rng.randint(0, 1500)}
        for i, t in enumerate(rows, 1)
    ]


def others(rng: random.Random, facts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """50 other users: same kinds of facts with other values, plus a few exact copies."""
    rows: list[dict[str, Any]] = []
    for u in range(1, OTHER_USERS + 1):
        user = f"u-{u:02d}"
        copies = rng.sample(facts, rng.randint(1, 2))
        texts = [f["text"] for f in copies]
        for template in rng.sample(OTHER_TEMPLATES, len(OTHER_TEMPLATES)):
            if len(texts) >= PER_USER:
                break
            text = _fill(rng, template)
            if text not in texts:
                texts.append(text)
        rows += [{"user": user, "text": t, "days_ago": rng.randint(0, 1500)} for t in texts]
    return [{"id": f"o{i:04d}", **row} for i, row in enumerate(rows, 1)]


def dump(data: dict[str, Any], path: Path) -> None:
    """One record a line, so a diff of the set reads like a diff of memories."""
    lines = ["{"]
    head = ["name", "now", "user"]
    lines += [f" {json.dumps(k)}: {json.dumps(data[k])}," for k in head]
    lists = ["facts", "noise", "others", "queries"]
    for n, key in enumerate(lists):
        body = ",\n".join(f"  {json.dumps(r, ensure_ascii=False)}" for r in data[key])
        tail = "," if n < len(lists) - 1 else ""
        lines.append(f" {json.dumps(key)}: [\n{body}\n ]{tail}")
    lines.append("}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


KINDS = ("single", "multi", "paraphrase", "indirect", "relation", "temporal", "current", "names")


def validate(data: dict[str, Any]) -> dict[str, int]:
    """Check the set is consistent; returns the number of queries per kind."""
    facts = {f["id"]: f for f in data["facts"]}
    ids = [r["id"] for key in ("facts", "noise", "others", "queries") for r in data[key]]
    assert len(ids) == len(set(ids)), "duplicate ids"
    for f in data["facts"]:
        assert f["text"].startswith("User") and 2 <= len(f["questions"]) <= 3, f["id"]
        for old in f.get("supersedes", []):
            # a change must come after what it changes
            assert facts[old]["days_ago"] > f["days_ago"], (f["id"], old)
    kinds = dict.fromkeys(KINDS, 0)
    for q in data["queries"]:
        kinds[q["kind"]] += 1
        assert q["expected"] and all(e in facts for e in q["expected"]), q["id"]
        assert all(s in facts for s in q.get("stale", [])), q["id"]
        if q["kind"] == "multi":
            assert 2 <= len(q["expected"]) <= 4, q["id"]
        if q["kind"] == "current":
            newer = {o for e in q["expected"] for o in facts[e].get("supersedes", [])}
            assert set(q["stale"]) <= newer, q["id"]
    assert len(data["queries"]) >= 150 and min(kinds.values()) >= 15, kinds
    assert all(o["user"] != data["user"] for o in data["others"])
    return kinds


def main() -> None:
    data = json.loads(PATH.read_text(encoding="utf-8"))
    rng = random.Random(SEED)
    data["noise"] = noise(rng)
    data["others"] = others(rng, data["facts"])
    kinds = validate(data)
    dump(data, PATH)
    print(f"{len(data['facts'])} facts, {len(data['noise'])} noise, {len(data['others'])} others")
    print(f"{len(data['queries'])} queries: {kinds}")


if __name__ == "__main__":
    main()
