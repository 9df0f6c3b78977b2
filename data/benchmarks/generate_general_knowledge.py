"""Write ``general_knowledge.csv``: the embedded default benchmark sample for the forgetting check.

About 200 simple multiple-choice items in MMLU format (``question,choice0,choice1,choice2,choice3,answer``)
generated from arithmetic and fixed fact tables, so the project ships a benchmark with no licence to track and
no download. Deterministic: the same seed writes the same bytes.

    python data/benchmarks/generate_general_knowledge.py [--out PATH] [--seed N]
"""

from __future__ import annotations

import argparse
import csv
import io
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "general_knowledge.csv"
HEADER = ["question", "choice0", "choice1", "choice2", "choice3", "answer"]

CAPITALS = {"France": "Paris", "Germany": "Berlin", "Italy": "Rome", "Spain": "Madrid", "Japan": "Tokyo",
            "Egypt": "Cairo", "Canada": "Ottawa", "Kenya": "Nairobi", "Peru": "Lima", "Norway": "Oslo",
            "Greece": "Athens", "Russia": "Moscow", "China": "Beijing", "Portugal": "Lisbon",
            "Ireland": "Dublin", "Poland": "Warsaw", "Austria": "Vienna", "Sweden": "Stockholm",
            "Thailand": "Bangkok", "Argentina": "Buenos Aires"}
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
PLANETS = ["Mercury", "Venus", "Earth", "Mars", "Jupiter", "Saturn", "Uranus", "Neptune"]
OPPOSITES = {"hot": "cold", "up": "down", "big": "small", "fast": "slow", "open": "closed", "early": "late",
             "light": "dark", "full": "empty", "happy": "sad", "strong": "weak", "wet": "dry", "old": "young"}
LEGS = {"spider": 8, "insect": 6, "dog": 4, "bird": 2, "horse": 4, "octopus": 8, "human": 2, "ant": 6}
UNITS = [("How many minutes are in one hour?", 60), ("How many seconds are in one minute?", 60),
         ("How many hours are in one day?", 24), ("How many days are in one week?", 7),
         ("How many months are in one year?", 12), ("How many centimetres are in one metre?", 100),
         ("How many grams are in one kilogram?", 1000), ("How many metres are in one kilometre?", 1000),
         ("How many sides does a triangle have?", 3), ("How many sides does a hexagon have?", 6),
         ("How many sides does a square have?", 4), ("How many days are in a leap year?", 366)]
ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
        "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def number_word(n: int) -> str:
    if n < 20:
        return ONES[n]
    return TENS[n // 10] + ("" if n % 10 == 0 else "-" + ONES[n % 10])


def _item(rng: random.Random, question: str, right, wrong) -> list[str]:
    """One CSV row: the right answer among three distinct wrong ones, in a seeded order."""
    wrong = [w for w in dict.fromkeys(str(w) for w in wrong) if w != str(right)]
    choices = [str(right)] + rng.sample(wrong, 3)
    rng.shuffle(choices)
    return [question, *choices, str(choices.index(str(right)))]


def _near_numbers(n: int) -> list[int]:
    """Plausible wrong answers: off by one, two, ten or eleven (never negative; at least four of them)."""
    return [n + d for d in (-11, -10, -2, -1, 1, 2, 10, 11) if n + d >= 0]


def generate_items(seed: int = 0) -> list[list[str]]:
    rng = random.Random(seed)
    rows = []
    for _ in range(35):
        a, b = rng.randint(2, 60), rng.randint(2, 40)
        rows.append(_item(rng, f"What is {a} + {b}?", a + b, _near_numbers(a + b)))
    for _ in range(20):
        a, b = rng.randint(20, 99), rng.randint(1, 19)
        rows.append(_item(rng, f"What is {a} - {b}?", a - b, _near_numbers(a - b)))
    for _ in range(25):
        a, b = rng.randint(2, 12), rng.randint(2, 12)
        rows.append(_item(rng, f"What is {a} times {b}?", a * b, _near_numbers(a * b) + [a + b]))
    for k in range(30):
        nums = rng.sample(range(1, 500), 4)
        word, pick = ("largest", max) if k % 2 == 0 else ("smallest", min)
        rows.append(_item(rng, f"Which number is the {word}?", pick(nums), [n for n in nums if n != pick(nums)]))
    for _ in range(15):
        n = rng.randint(21, 99)
        rows.append(_item(rng, f"Which number is written as '{number_word(n)}'?", n, _near_numbers(n)))
    for country, capital in CAPITALS.items():
        others = [c for c in CAPITALS.values() if c != capital]
        rows.append(_item(rng, f"What is the capital of {country}?", capital, rng.sample(others, 5)))
    for i, day in enumerate(DAYS):
        rows.append(_item(rng, f"Which day comes after {day}?", DAYS[(i + 1) % 7], DAYS))
    for i, month in enumerate(MONTHS):
        rows.append(_item(rng, f"Which month comes after {month}?", MONTHS[(i + 1) % 12], MONTHS))
    for i, planet in enumerate(PLANETS):
        ordinal = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth"][i]
        rows.append(_item(rng, f"Which planet is {ordinal} from the Sun?", planet, PLANETS))
    for word, opposite in OPPOSITES.items():
        rows.append(_item(rng, f"What is the opposite of '{word}'?", opposite,
                          [o for o in OPPOSITES.values() if o != opposite]))
    for animal, legs in LEGS.items():
        rows.append(_item(rng, f"How many legs does a {animal} have?", legs, [0, 2, 4, 6, 8, 10]))
    for question, value in UNITS:
        rows.append(_item(rng, question, value, [7, 10, 12, 24, 30, 60, 100, 365, 1000, 3, 4, 6, 366]))
    return rows


def render_csv(seed: int = 0) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(generate_items(seed))
    return buf.getvalue()


def main(argv: list[str] | None = None) -> Path:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(f".{args.out.name}.tmp")
    tmp.write_text(render_csv(args.seed), encoding="utf-8")
    tmp.replace(args.out)  # atomic: a reader never sees half a benchmark
    return args.out


if __name__ == "__main__":
    print(main())
