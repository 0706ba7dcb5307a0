"""Regenerate the noise and other users' memories of the dev set, and check the whole file.

The facts and queries in dev.json are hand-written and kept as they are; this script only
rewrites `noise` (low-relevance memories of the main user) and `others` (50 other users), from a
fixed seed so the file is reproducible. Run from the repository root:

    python benchmarks/memory_sets/make_dev.py          # rewrite noise/others, then check
    python benchmarks/memory_sets/make_dev.py --check  # check only

The word pools are "|"-separated strings and the sentences one per line, so the data stays
compact and the formatter leaves it alone.
"""

from __future__ import annotations

import json
import random
import sys
from collections import Counter
from pathlib import Path
from string import Formatter
from typing import Any

PATH = Path(__file__).with_name("dev.json")
SEED = 1806
NOISE_COUNT = 300
OTHER_USERS = 50
PER_OTHER = 20
COPIES_PER_OTHER = 2  # word-for-word copies of main-user facts, so a leak shows
KINDS = ("single", "multi", "paraphrase", "indirect", "relation", "temporal", "current", "names")
RELATIONS = (
    "user", "spouse", "partner", "child", "parent", "sibling", "grandparent",
    "relative", "manager", "colleague", "friend", "pet", "other",
)  # fmt: skip


def _words(text: str) -> list[str]:
    return [w.strip() for w in text.split("|") if w.strip()]


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.strip().splitlines() if line.strip()]


# Low-relevance memories of the main user. Many reuse a trap word in its other sense (a
# programming language, a TV series, a financial term) or share words with a real answer.
NOISE_FIXED = _lines("""
User asked how to write a Python decorator that caches results.
User watched a documentary about pythons in the Everglades.
User asked why the Rust borrow checker rejected a closure.
User asked how to get rust stains off a balcony railing.
User asked how goroutines are scheduled in Go.
User asked how scoring works at the end of a Go game.
User asked whether a ruby or a sapphire is harder.
User asked about pattern matching in Ruby 3.
User asked how to write a Swift extension for an iOS demo.
User asked how fast a common swift can fly.
User laughed at the Friends episode where the couch gets stuck on the stairs.
User asked which season of Friends has the Thanksgiving football game.
User watched an episode of House M.D. on the train.
User asked about house prices in Cascais.
User lost a glove on the tram.
User asked for a summary of the Lost finale.
User asked how many Emmys Succession won.
User asked about the succession rules of the Portuguese monarchy.
User asked how compound interest works.
User asked what the ECB decided on interest rates in October.
User mentioned a passing interest in birdwatching.
User asked which actor played the first James Bond.
User asked why bond yields rose after a news headline.
User asked how to bond two pieces of PVC pipe.
User asked for a recipe for vegetable stock.
User asked what the stock market did on Friday.
User asked what the capital of Australia is.
User asked how to capitalise headings in Markdown.
User asked how to check the balance on a Lisboa Viva card.
User asked for yoga poses that improve balance.
User asked what time the Lisbon zoo opens on Sundays.
User asked about ski rental prices in Andorra.
User asked for the Portuguese word for dentist.
User asked how to say happy birthday in Danish.
User asked for the train timetable from Lisbon to Porto once.
User asked what the weather is like in Gdańsk in December.
User once asked for a playlist of Radiohead B-sides.
User asked whether beagles shed a lot.
User asked about the history of the palaces in Sintra.
User asked how the Copenhagen metro lines connect to the airport.
User asked for a gluten-free bakery in Alfama once.
User asked how to reset the password of a MEO router.
User asked when cherry blossoms peak in Kyoto.
User asked which peanut butter brands are sold in Portugal.
User asked what a field on a German tax form means.
User asked for a birthday gift idea for a coworker once.
User asked how a Renault Zoe battery ages in hot weather.
User asked who won Eurovision 2026.
User asked which days are public holidays in Portugal in 2027.
User asked what happens in Lisbon on June 13 for Santo António.
User asked about the January sales in Lisbon.
User asked when the clocks change in March.
User asked what Dia de Reis on January 6 is.
User asked how long the Berlin Marathon route is.
User asked for a summary of an article about remote work.
User asked how to convert a Kindle book to PDF.
User asked about the difference between a latte and a flat white.
User asked how to fix a flat bicycle tyre.
User asked which plants survive on a north-facing balcony.
User asked what a good tip is in Portuguese restaurants.
User asked how to unsubscribe from a newsletter.
User asked how to descale a kettle.
User asked how long to boil an egg for a runny yolk.
User asked about the rules of padel.
User asked who designed the Vasco da Gama bridge.
User asked for a synonym of resilient.
User asked how many tram lines Lisbon has.
User asked about the best beaches near Lisbon for families.
User asked how to make a sourdough starter.
User asked whether dogs can eat grapes.
User asked for the lyrics of a fado song.
User asked to proofread a cover letter for a friend.
User asked how the stock of a rifle differs from the barrel, for a crossword.
User asked what a stock keeping unit is.
User asked about Bond Street in London.
User asked about the capital gains tax on crypto in Germany.
User asked about interest-free instalments on a fridge.
User asked how to rebalance a portfolio, out of curiosity.
User asked what a Python virtual environment is for a colleague.
User asked about ruby port versus tawny port.
User asked for a Go-kart track near Lisbon.
User asked to translate a letter from the câmara municipal.
User asked about the opening hours of the Lisbon citizen shop.
User asked which supermarket in Arroios opens earliest.
User asked how to clean a cast-iron pan.
User asked how big a king-size duvet is.
User asked for the plot of the film Lost in Translation.
User asked about houseplants that are safe for dogs.
User asked for a dinosaur colouring page.
User asked whether it will rain in Lisbon on the weekend.
User asked what time sunset is in Lisbon in December.
User asked how to spell Mississippi.
User asked what the Portuguese word for appointment is.
User asked how to write a polite reminder email.
User asked what the longest river in Europe is.
User asked to summarise a podcast about Roman history.
User asked how to remove a wine stain from a carpet.
User asked for the calorie count of a pastel de nata.
User asked how to pair Bluetooth headphones with a laptop.
""")

NOISE_TEMPLATES = _lines("""
User asked about the weather in {city} once.
User asked for a recipe for {dish}.
User asked how to {task}.
User read an article about {topic}.
User watched a documentary about {topic}.
User finds {thing} relaxing.
User once said {food} is overrated.
User asked for the opening hours of {place}.
User asked what time it is in {city}.
User asked how far {city} is from Lisbon.
User asked for a podcast recommendation about {topic}.
User asked about the population of {city}.
User asked for a quick fact about {topic}.
User asked to compare {dish} recipes once.
User listened to a podcast about {topic} on the way to {place}.
User asked whether {place} is busy on weekends.
""")

NOISE_SLOTS = {
    "city": _words(
        "Porto|Braga|Faro|Coimbra|Évora|Madrid|Seville|Munich|Hamburg|Vienna|Prague|Oslo|Dublin|"
        "Tokyo|Osaka|Reykjavík|Marrakesh|Montreal|Singapore|Nairobi|Lima|Athens|Split|Bologna"
    ),
    "dish": _words(
        "bacalhau à brás|shakshuka|ramen|pierogi|caldo verde|mushroom risotto|banana bread|"
        "chana masala|gazpacho|cheesecake|pad thai|minestrone|falafel|apple crumble|tortilla"
    ),
    "task": _words(
        "rebase a git branch|rotate a PDF|clean a mechanical keyboard|export a spreadsheet to CSV|"
        "set up a VPN on a router|defrost a freezer|fold a fitted sheet|sharpen a kitchen knife|"
        "read a gas meter|format a USB stick|block spam calls|change a bike chain|"
        "calibrate a monitor|back up photos|tie a bow tie"
    ),
    "topic": _words(
        "Roman history|the Apollo missions|deep-sea fish|medieval castles|the history of jazz|"
        "volcanoes|urban planning|honeybees|the printing press|Antarctic explorers|octopuses|"
        "the Silk Road|Art Nouveau|glaciers|the Hanseatic League|typography|coffee farming"
    ),
    "thing": _words(
        "podcasts about history|long train rides|rain on the window|doing the dishes|"
        "jigsaw puzzles|ambient music|watering plants|crosswords|baking bread|sorting Lego"
    ),
    "food": _words("avocado toast|kale|truffle oil|bubble tea|sushi burritos|pumpkin spice"),
    "place": _words(
        "the Gulbenkian museum|the Oceanário|LX Factory|the Feira da Ladra|Belém Tower|"
        "the Time Out Market|the Botanical Garden|IKEA Alfragide|the Colombo mall|Jerónimos"
    ),
}

# Other users' memories: the same kinds of facts as the main user's, with other values.
OTHER_TEMPLATES = _lines("""
User lives in {city}.
User moved to {city2} in {when}.
User works as a {role} at {company}.
User's manager is {manager}.
User's colleague {colleague} is the tech lead on the platform team.
User's {spouse_word} is {spouse}.
User's {spouse_word} {spouse}'s birthday is {date2}.
User's birthday is {date}.
User's wedding anniversary is {date3}.
User's parents' wedding anniversary is {date2}.
User's {kid_word} {kid} is allergic to {allergen2}.
User is {diet}.
User is allergic to {allergen}.
User's pet is a {pet} named {petname}.
User's {sib_word} {sib} lives in {city2}.
User's {parent_word} {parent}'s birthday is {date3}.
User drives a {car}.
User uses a {phone}.
User's favourite band is {band}.
User plans a trip to {place} in {when2}.
User's shoe size is EU {n_shoe}.
User's salary is €{n_salary} a year.
User's flat number is {n_flat}.
User writes mostly {lang} at work.
User is rewatching {series}.
User is afraid of {fear}.
User's budget for a new sofa is €{n_budget}.
User's mortgage has a fixed interest rate of {n_rate}%.
User holds about €{n_money} in government bonds.
User is {age} years old.
User's weekend hobby is {hobby}.
User's friend {friend} is getting married in {when2}.
User's passport expires in {when}.
User has been learning Portuguese since {year}.
User's {kid_word} {kid} goes to bed at 20:00.
""")

CITIES = _words(
    "Berlin|Lisbon|Porto|Madrid|Munich|Hamburg|Amsterdam|Vienna|Prague|Warsaw|Kraków|Barcelona|"
    "Valencia|Copenhagen|Stockholm|Dublin|London|Paris|Lyon|Milan|Zurich|Brussels|Rotterdam|"
    "Oslo|Helsinki|Tallinn|Riga|Budapest|Athens|Seville|Gdańsk|Cologne"
)
FEMALE = _words(
    "Anna|Maya|Lena|Sofia|Clara|Marta|Inês|Beatriz|Julia|Emma|Nora|Eva|Hanna|Zofia|Ola|Chloé|"
    "Priya|Aisha|Yuki|Mei|Elif|Ingrid|Mila|Kasia|Rita|Leonor"
)
MALE = _words(
    "Tom|Ben|Lukas|Felix|Jan|Pedro|Tiago|Rui|Marco|Omar|Daniel|David|Karim|Leon|Max|Piotr|"
    "Kofi|Lars|Tomasz|João|Miguel|Jonas"
)
FIRST_NAMES = FEMALE + MALE
SURNAMES = _words(
    "Weber|Schmidt|Costa|Ferreira|Silva|Nowak|Kowalski|Reyes|Okafor|Tanaka|Jensen|Müller|"
    "Rossi|Dubois|Novak|Khan|Moreau|Santos|Lindqvist|Carvalho|Nair|Sousa|Pires"
)
COMPANIES = _words(
    "Finch Health|Parcelwise|Marlin Pay|Brightloop|Northwind Analytics|Tessera Bank|Kinetic Labs|"
    "Harbour Freight Tech|Lumen Energy|Quillbox|Orbital Foods|Cobalt Insurance|Tidewater Games"
)
ROLES = _words(
    "backend engineer|data engineer|product manager|frontend developer|site reliability engineer|"
    "UX designer|engineering manager|QA engineer|data scientist|mobile developer|nurse|teacher"
)
DIETS = _words("vegan|vegetarian|pescatarian|on a keto diet|gluten-free|eating halal|dairy-free")
ALLERGENS = _words(
    "shellfish|peanuts|penicillin|pollen|cats|latex|tree nuts|eggs|sesame|bee stings|ibuprofen"
)
PETS = _words("beagle|golden retriever|dachshund|border collie|tabby cat|ball python|rabbit|pug")
PET_NAMES = _words("Bruno|Luna|Max|Nala|Pixel|Rusty|Mochi|Oscar|Bella|Simba|Pipoca|Biscuit")
CARS = _words(
    "Renault Zoe|Volkswagen ID.3|Toyota Yaris|Tesla Model 3|Fiat 500|Škoda Octavia|"
    "Peugeot 208|Kia Niro|Dacia Sandero|BMW 3 Series"
)
PHONES = _words(
    "iPhone 15 Pro|Google Pixel 8|Samsung Galaxy S23|Pixel 6|iPhone 13 mini|Fairphone 5"
)
BANDS = _words(
    "Radiohead|Arctic Monkeys|Taylor Swift|Coldplay|Daft Punk|Massive Attack|Madredeus|"
    "The National|Bon Iver|Beyoncé|Kraftwerk"
)
HOBBIES = _words(
    "pottery|surfing|rock climbing|birdwatching|woodworking|running|swimming|Go|chess|"
    "sourdough baking|bouldering|sailing|urban sketching"
)
SERIES = _words("Friends|House|Lost|Succession|The Office|Breaking Bad|Dark|The Wire|Severance")
LANGS = _words("Python|Go|Rust|Ruby|Swift|Java|TypeScript|Kotlin|C#|Scala")
PLACES = _words(
    "Japan|the Azores|Sierra Nevada|Madeira|Iceland|Copenhagen|Gdańsk|Morocco|Crete|"
    "the Dolomites|Scotland|New York|Lapland"
)
FEARS = _words("flying|heights|spiders|deep water|dogs|needles|thunderstorms")
MONTHS = _words(
    "January|February|March|April|May|June|July|August|September|October|November|December"
)
WHENS = _words(
    "January 2027|February 2027|December 2026|March 2026|October 2025|June 2027|May 2026|"
    "April 2027|September 2026|November 2026|July 2024"
)


def make_noise(rng: random.Random) -> list[dict[str, Any]]:
    """Fixed sentences first (they carry the keyword traps), then filled templates."""
    texts = list(dict.fromkeys(NOISE_FIXED))
    seen = set(texts)
    while len(texts) < NOISE_COUNT:
        template = rng.choice(NOISE_TEMPLATES)
        fields = {f for _, f, _, _ in Formatter().parse(template) if f}
        text = template.format(**{f: rng.choice(NOISE_SLOTS[f]) for f in fields})
        if text not in seen:
            seen.add(text)
            texts.append(text)
    rng.shuffle(texts)
    return [
        {"id": f"n{i:03d}", "text": t, "days_ago": rng.randint(0, 1500)}
        for i, t in enumerate(texts[:NOISE_COUNT], 1)
    ]


def _relative(rng: random.Random, key: str, *words: str) -> dict[str, str]:
    """A relation word and a first name that fits it (a wife called Tom reads like a typo)."""
    word = rng.choice(words)
    pool = {"wife": FEMALE, "daughter": FEMALE, "sister": FEMALE, "mother": FEMALE}.get(word)
    if pool is None:
        pool = FIRST_NAMES if word == "partner" else MALE
    return {f"{key}_word": word, key: rng.choice(pool)}


def _person(rng: random.Random) -> dict[str, str]:
    """One other user's values: same kinds of facts as the main user, other values."""
    month, day = rng.choice(MONTHS), rng.randint(1, 28)
    return {
        "city": rng.choice(CITIES),
        "city2": rng.choice(CITIES),
        **_relative(rng, "spouse", "wife", "husband", "partner"),
        **_relative(rng, "kid", "daughter", "son"),
        **_relative(rng, "sib", "sister", "brother"),
        **_relative(rng, "parent", "mother", "father"),
        "manager": f"{rng.choice(FIRST_NAMES)} {rng.choice(SURNAMES)}",
        "colleague": f"{rng.choice(FIRST_NAMES)} {rng.choice(SURNAMES)}",
        "friend": rng.choice(FIRST_NAMES),
        "company": rng.choice(COMPANIES),
        "role": rng.choice(ROLES),
        "diet": rng.choice(DIETS),
        "allergen": rng.choice(ALLERGENS),
        "allergen2": rng.choice(ALLERGENS),
        "pet": rng.choice(PETS),
        "petname": rng.choice(PET_NAMES),
        "car": rng.choice(CARS),
        "phone": rng.choice(PHONES),
        "band": rng.choice(BANDS),
        "hobby": rng.choice(HOBBIES),
        "series": rng.choice(SERIES),
        "lang": rng.choice(LANGS),
        "place": rng.choice(PLACES),
        "fear": rng.choice(FEARS),
        "date": f"{month} {day}",
        "date2": f"{rng.choice(MONTHS)} {rng.randint(1, 28)}",
        "date3": f"{rng.choice(MONTHS)} {rng.randint(1, 28)}",
        "when": rng.choice(WHENS),
        "when2": rng.choice(WHENS),
        "year": str(rng.randint(2014, 2026)),
        "n_shoe": str(rng.randint(36, 47)),
        "n_salary": f"{rng.randint(45, 140)},000",
        "n_flat": f"{rng.randint(1, 9)}{rng.choice('ABCD')}",
        "n_budget": f"{rng.randint(3, 40) * 100:,}",
        "n_rate": f"{rng.randint(25, 49) / 10:.1f}",
        "n_money": f"{rng.randint(2, 60)},000",
        "age": str(rng.randint(24, 61)),
    }


def make_others(rng: random.Random, facts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """About 20 memories per other user, two of them copied word for word from the main user."""
    rows: list[dict[str, Any]] = []
    for u in range(1, OTHER_USERS + 1):
        values = _person(rng)
        picked = rng.sample(OTHER_TEMPLATES, PER_OTHER - COPIES_PER_OTHER)
        texts = [t.format(**values) for t in picked]
        texts += [f["text"] for f in rng.sample(facts, COPIES_PER_OTHER)]
        rng.shuffle(texts)
        for text in dict.fromkeys(texts):
            rows.append({"user": f"u-{u:02d}", "text": text, "days_ago": rng.randint(0, 1500)})
    return [{"id": f"o{i:04d}", **r} for i, r in enumerate(rows, 1)]


def check(doc: dict[str, Any]) -> list[str]:
    """Every rule of the set format that a typo could break; returns the problems."""
    problems: list[str] = []
    facts = {f["id"]: f for f in doc["facts"]}
    ids = [r["id"] for part in ("facts", "noise", "others", "queries") for r in doc[part]]
    problems += [f"duplicate id {i}" for i, n in Counter(ids).items() if n > 1]
    for f in doc["facts"]:
        if f["subject"] not in RELATIONS:
            problems.append(f"{f['id']}: subject {f['subject']}")
        if not 2 <= len(f["questions"]) <= 3:
            problems.append(f"{f['id']}: {len(f['questions'])} questions")
        if not f["text"].startswith("User"):
            problems.append(f"{f['id']}: does not start with User")
        for old in f.get("supersedes", []):
            if old not in facts:
                problems.append(f"{f['id']}: supersedes unknown {old}")
            elif facts[old]["days_ago"] <= f["days_ago"]:
                problems.append(f"{f['id']}: supersedes the newer {old}")
    for r in doc["facts"] + doc["noise"] + doc["others"]:
        if not 0 <= r["days_ago"] <= 1500:
            problems.append(f"{r['id']}: days_ago {r['days_ago']}")
    for q in doc["queries"]:
        if q["kind"] not in KINDS:
            problems.append(f"{q['id']}: kind {q['kind']}")
        for i in q["expected"] + q.get("stale", []):
            if i not in facts:
                problems.append(f"{q['id']}: {i} is not a main-user fact")
        if set(q["expected"]) & set(q.get("stale", [])):
            problems.append(f"{q['id']}: an id is both expected and stale")
        if q["kind"] == "multi" and not 2 <= len(q["expected"]) <= 4:
            problems.append(f"{q['id']}: multi with {len(q['expected'])} expected")
        if q["kind"] == "current" and not q.get("stale"):
            problems.append(f"{q['id']}: current without stale")
    kinds = Counter(q["kind"] for q in doc["queries"])
    problems += [f"only {kinds[k]} {k} queries" for k in KINDS if kinds[k] < 15]
    if len(doc["queries"]) < 150:
        problems.append(f"only {len(doc['queries'])} queries")
    return problems


def dump(doc: dict[str, Any]) -> str:
    """One record per line, so a diff of the set reads like a diff of sentences."""
    head = {k: doc[k] for k in ("name", "now", "user")}
    out = [json.dumps(head, ensure_ascii=False)[:-1]]
    for part in ("facts", "noise", "others", "queries"):
        lines = ",\n  ".join(json.dumps(r, ensure_ascii=False) for r in doc[part])
        out.append(f', "{part}": [\n  {lines}\n ]')
    return "".join(out) + "}\n"


def main(argv: list[str]) -> int:
    doc = json.loads(PATH.read_text(encoding="utf-8"))
    if "--check" not in argv:
        rng = random.Random(SEED)
        doc["noise"] = make_noise(rng)
        doc["others"] = make_others(rng, doc["facts"])
        PATH.write_text(dump(doc), encoding="utf-8")
    problems = check(doc)
    for p in problems:
        print(p, file=sys.stderr)
    kinds = Counter(q["kind"] for q in doc["queries"])
    changes = sum(1 for f in doc["facts"] if f.get("supersedes"))
    print(
        f"facts {len(doc['facts'])} (changes {changes}), noise {len(doc['noise'])}, "
        f"others {len(doc['others'])}, queries {len(doc['queries'])}: "
        + ", ".join(f"{k} {kinds[k]}" for k in KINDS)
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
