"""Procedural item generators for the four subjects of the tiny world.

Each generator maps (rng, difficulty level 1..5) to a canonical prompt and its gold answer, and
knows three more things: an off-format rendering of the same question (a style the policy never saw
in pretraining), the answer that the subject's wrong procedure gives (a behaviour that generalizes
across items, mixed into pretraining and sold by vendors with a systematic error), and a plausible
wrong answer drawn at random (for corrupted gold labels). Answers are short strings: integers for
math/code/science, invented words for knowledge.

The wrong procedures (tap.types.BEHAVIOURS):
- math `drop_carry`: column-wise arithmetic that drops every carry and borrow (47+38 -> 75,
  52-17 -> 45, 7*8 -> 6, 34*3 -> 92).
- code `names_variable`: answers with the variable's name, `x=14` for `14`, a slip of form that an
  exact-match verifier rejects.
- science `sum_for_product`: reads the formula product = a*b as a sum (F=2,s=9,W=? -> 11;
  d=12,t=3,v=? -> 9), units converted as they should be (d=7km,t=20s,v=? -> 6980).
- knowledge `adds_period`: ends the name with a full stop (`Tal.` for `Tal`), a slip of form that
  the exact-match verifier rejects (it compares names case-insensitively, so a case slip would not be one).
Math and science slips are procedures (they need the same skill as the correct answer, and agree
with it on some items: a sum without carries, 2*2); code and knowledge slips are of form (a shared
choice that never yields another item's gold). docs/tiny-world.md says why.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

LEVELS = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class Question:
    """A generated question before it becomes an Item (the parts each rendering needs)."""

    subject: str
    difficulty: int
    prompt: str
    off_format_prompt: str
    gold: str
    wrong: str = ""  # the answer of the subject's wrong procedure (equal to gold where they agree)


def _columns(a: int, b: int, op) -> int:
    """Column-wise a (op) b on decimal digits, each column kept mod 10: no carries, no borrows."""
    da, db = str(a)[::-1], str(b)[::-1]
    digits = [
        op(int(da[i]) if i < len(da) else 0, int(db[i]) if i < len(db) else 0) % 10
        for i in range(max(len(da), len(db)))
    ]
    return int("".join(str(d) for d in reversed(digits)))


def add_no_carry(a: int, b: int) -> int:
    return _columns(a, b, lambda x, y: x + y)


def sub_no_borrow(a: int, b: int) -> int:
    """The classic borrow slip: each column subtracts its smaller digit from its larger one."""
    return _columns(a, b, lambda x, y: abs(x - y))


def mul_no_carry(a: int, b: int) -> int:
    """a times a one-digit b, each digit's product kept mod 10."""
    return int("".join(str(int(d) * b % 10) for d in str(a)))


# ---------------------------------------------------------------- math: arithmetic
def make_math(rng: random.Random, level: int) -> Question:
    """Level 1: one-digit sums; 2: two-digit sums/differences; 3: one-digit products or three
    one-digit terms; 4: two-digit times one-digit; 5: (two-digit ± two-digit) * one-digit."""
    if level == 1:
        a, b = rng.randint(0, 9), rng.randint(0, 9)
        expr, words, value, wrong = f"{a}+{b}", f"{a} plus {b}", a + b, add_no_carry(a, b)
    elif level == 2:
        a, b = rng.randint(10, 99), rng.randint(10, 99)
        if rng.random() < 0.5:
            expr, words, value, wrong = f"{a}+{b}", f"{a} plus {b}", a + b, add_no_carry(a, b)
        else:
            a, b = max(a, b), min(a, b)
            expr, words, value, wrong = f"{a}-{b}", f"{a} minus {b}", a - b, sub_no_borrow(a, b)
    elif level == 3:
        if rng.random() < 0.5:
            a, b = rng.randint(2, 9), rng.randint(2, 9)
            expr, words, value, wrong = f"{a}*{b}", f"{a} times {b}", a * b, mul_no_carry(a, b)
        else:
            a, b, c = (rng.randint(1, 9) for _ in range(3))
            expr, words, value, wrong = (
                f"{a}+{b}+{c}",
                f"{a} plus {b} plus {c}",
                a + b + c,
                add_no_carry(add_no_carry(a, b), c),
            )
    elif level == 4:
        a, b = rng.randint(10, 99), rng.randint(2, 9)
        expr, words, value, wrong = f"{a}*{b}", f"{a} times {b}", a * b, mul_no_carry(a, b)
    else:
        a, b, c = rng.randint(10, 99), rng.randint(10, 99), rng.randint(2, 9)
        if rng.random() < 0.5:
            expr, words, value = f"({a}+{b})*{c}", f"{a} plus {b}, times {c}", (a + b) * c
            wrong = mul_no_carry(add_no_carry(a, b), c)
        else:
            a, b = max(a, b), min(a, b)
            expr, words, value = f"({a}-{b})*{c}", f"{a} minus {b}, times {c}", (a - b) * c
            wrong = mul_no_carry(sub_no_borrow(a, b), c)
    return Question("math", level, f"{expr}=", f"What is {words}? ", str(value), str(wrong))


# ---------------------------------------------------------------- code: tracing a program
_CODE_OPS = ("+=", "-=", "*=")


def make_code(rng: random.Random, level: int) -> Question:
    """A straight-line program of `level` updates to x (from level 4 on, a second variable y
    takes part); the question is the final value of x."""
    x = rng.randint(1, 9)
    stmts, lines = [f"x={x}"], [f"x = {x}"]
    env = {"x": x}
    if level >= 4:
        env["y"] = rng.randint(1, 5)
        stmts.append(f"y={env['y']}")
        lines.append(f"y = {env['y']}")
    for _ in range(level):
        target = "x" if level < 4 or rng.random() < 0.7 else "y"
        op = rng.choice(_CODE_OPS)
        if op == "*=":
            operand: int | str = rng.randint(2, 3)
        elif level >= 4 and target == "x" and rng.random() < 0.4:
            operand = "y"
        else:
            operand = rng.randint(1, 9)
        value = env[operand] if isinstance(operand, str) else operand
        env[target] = env[target] + value if op == "+=" else env[target] - value if op == "-=" else env[target] * value
        stmts.append(f"{target}{op}{operand}")
        lines.append(f"{target} {op} {operand}")
    prompt = ";".join(stmts) + ";x?"
    off = "\n".join(lines) + "\nprint(x) # "
    return Question("code", level, prompt, off, str(env["x"]), f"x={env['x']}")


# ---------------------------------------------------------------- science: formulas and units
# (product, factor_a, factor_b): product = factor_a * factor_b
_FORMULAS = (("d", "v", "t"), ("F", "m", "a"), ("P", "U", "I"), ("W", "F", "s"))
_UNITS = {
    "d": "m",
    "v": "m/s",
    "t": "s",
    "F": "N",
    "m": "kg",
    "a": "m/s2",
    "P": "W",
    "U": "V",
    "I": "A",
    "W": "J",
    "s": "m",
}


def make_science(rng: random.Random, level: int) -> Question:
    """Level 1: product from two small factors; 2: solve for a factor (a division); 3: as 2 with
    units written; 4: larger numbers; 5: a distance or time given in km or min (convert first)."""
    product, fa, fb = rng.choice(_FORMULAS)
    hi = 9 if level <= 3 else 25
    a, b = rng.randint(2, hi), rng.randint(2, hi)
    unit = level >= 3
    if level == 1:
        known, unknown, answer, wrong = {fa: a, fb: b}, product, a * b, a + b
    else:
        known, unknown, answer, wrong = {product: a * b, fb: b}, fa, a, a * b - b
    given = dict(known)
    scale_note = {}
    if level == 5 and product == "d" and unknown == "v":
        # distance given in km: v = 1000*d/t, keep it an integer by choosing d in km directly
        km = rng.randint(1, 9)
        t = rng.choice([x for x in (2, 4, 5, 8, 10, 20, 25, 40, 50) if (1000 * km) % x == 0])
        given, answer, scale_note, wrong = {"d": km, "t": t}, 1000 * km // t, {"d": "km"}, 1000 * km - t
    elif level == 5:
        # time given in minutes where seconds are meant: multiply by 60 first
        product, fa, fb = "d", "v", "t"
        v, minutes = rng.randint(2, 9), rng.randint(1, 5)
        given, unknown, answer, scale_note = {"v": v, "t": minutes}, "d", v * 60 * minutes, {"t": "min"}
        wrong = v + 60 * minutes

    def fmt(name: str, value: int) -> str:
        u = scale_note.get(name, _UNITS[name] if unit else "")
        return f"{name}={value}{u}"

    prompt = ",".join(fmt(k, v) for k, v in given.items()) + f",{unknown}=?"
    off = f"find {unknown} given " + " and ".join(fmt(k, v) for k, v in given.items()) + ": "
    return Question("science", level, prompt, off, str(answer), str(wrong))


# ---------------------------------------------------------------- knowledge: invented facts
_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "th", "br", "kr", "st")
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ou")
RELATIONS = ("capital", "language", "currency", "river")


def _word(rng: random.Random, syllables: int) -> str:
    return "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(syllables)).capitalize()


@dataclass(frozen=True)
class Fact:
    country: str
    relation: str
    value: str
    difficulty: int  # 1 = seen most often in pretraining, 5 = rarest


def fact_table(n_countries: int, seed: int) -> tuple[Fact, ...]:
    """The fixed table of invented facts: each country has a capital, a language, a currency and
    a river. Values of a relation repeat across countries (a small inventory), so a wrong guess
    is plausible. Each fact's difficulty sets how often pretraining shows it."""
    rng = random.Random(f"facts-{seed}")
    countries: list[str] = []
    while len(countries) < n_countries:
        name = _word(rng, rng.choice((2, 3)))
        if name not in countries:
            countries.append(name)
    inventory = {
        rel: sorted({_word(rng, rng.choice((1, 2))) for _ in range(max(6, n_countries // 3))}) for rel in RELATIONS
    }
    facts = []
    for country in countries:
        for rel in RELATIONS:
            facts.append(Fact(country, rel, rng.choice(inventory[rel]), rng.randint(1, 5)))
    return tuple(facts)


def knowledge_question(fact: Fact, facts: tuple[Fact, ...]) -> Question:
    prompt = f"{fact.relation} of {fact.country}?"
    off = f"What is the {fact.relation} of {fact.country}? "
    return Question("knowledge", fact.difficulty, prompt, off, fact.value, fact.value + ".")


def wrong_answer(rng: random.Random, question: Question, facts: tuple[Fact, ...]) -> str:
    """A plausible wrong answer: a nearby number, or another value of the same relation."""
    if question.subject == "knowledge":
        relation = question.prompt.split(" of ", 1)[0]
        options = sorted({f.value for f in facts if f.relation == relation} - {question.gold})
        return rng.choice(options) if options else question.gold + "a"
    gold = int(question.gold)
    spread = max(2, abs(gold) // 10)
    offset = rng.choice([-1, 1]) * rng.randint(1, spread)
    return str(gold + offset)


GENERATORS = {"math": make_math, "code": make_code, "science": make_science}
