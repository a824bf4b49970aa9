import random
import re

import pytest

from tap.config import load_config
from tap.world.pool import build_items
from tap.world.subjects import LEVELS, fact_table, make_code, make_math, make_science, wrong_answer


@pytest.mark.parametrize("level", LEVELS)
def test_math_gold_is_the_value_of_the_expression(level):
    rng = random.Random(level)
    for _ in range(200):
        q = make_math(rng, level)
        assert q.prompt.endswith("=")
        assert eval(q.prompt[:-1]) == int(q.gold)  # noqa: S307 - our own generated arithmetic


@pytest.mark.parametrize("level", LEVELS)
def test_code_gold_is_what_the_program_computes(level):
    rng = random.Random(level)
    for _ in range(200):
        q = make_code(rng, level)
        env: dict = {}
        exec(q.prompt.replace(";x?", "").replace(";", "\n"), env)  # noqa: S102 - generated program
        assert env["x"] == int(q.gold)
        ns: dict = {}
        exec(q.off_format_prompt.split("print(x)")[0], ns)  # noqa: S102
        assert ns["x"] == int(q.gold)


def test_code_example_from_the_issue():
    # x=3;x+=4;x*=2;x? -> 14 is the shape the generator produces
    rng = random.Random(0)
    q = make_code(rng, 2)
    assert q.prompt.startswith("x=") and q.prompt.endswith(";x?") and q.prompt.count(";") == 3


@pytest.mark.parametrize("level", LEVELS)
def test_science_gold_satisfies_the_formula(level):
    rng = random.Random(level)
    for _ in range(200):
        q = make_science(rng, level)
        given = dict(part.split("=") for part in q.prompt.split(",")[:-1])
        unknown = q.prompt.split(",")[-1][:-2]
        values = {}
        for name, text in given.items():
            number = int(re.match(r"\d+", text).group())
            if text.endswith("km"):
                number *= 1000
            if text.endswith("min"):
                number *= 60
            values[name] = number
        values[unknown] = int(q.gold)
        triples = [("d", "v", "t"), ("F", "m", "a"), ("P", "U", "I"), ("W", "F", "s")]
        assert any(set(t) == set(values) and values[t[0]] == values[t[1]] * values[t[2]] for t in triples), q


def test_fact_table_is_fixed_and_independent_of_world_seed():
    assert fact_table(16, 0) == fact_table(16, 0)
    assert fact_table(16, 0) != fact_table(16, 1)
    facts = fact_table(16, 0)
    assert len(facts) == 64 and {f.relation for f in facts} == {"capital", "language", "currency", "river"}


def test_wrong_answer_is_plausible_and_wrong():
    rng = random.Random(0)
    facts = fact_table(16, 0)
    for level in LEVELS:
        q = make_math(rng, level)
        bad = wrong_answer(rng, q, facts)
        assert bad != q.gold and bad.lstrip("-").isdigit()


def test_probe_is_disjoint_from_pool_and_balanced():
    items = build_items(load_config())
    probe, pool = items[items.split == "probe"], items[items.split == "pool"]
    assert not set(probe.prompt) & set(pool.prompt)
    assert probe.subject.value_counts().nunique() == 1  # same share per subject
    assert items.item_id.is_unique


def test_items_are_deterministic_and_follow_the_seed():
    a = build_items(load_config())
    b = build_items(load_config())
    c = build_items(load_config(None, ["world.seed=1"]))
    assert a.equals(b)
    assert not a.equals(c)


def _no_carry_reference(expr: str) -> int:
    """The drop-the-carry answer computed another way: each column's digits combined, mod 10."""
    def cols(a: int, b: int, op) -> int:
        width = max(len(str(a)), len(str(b)))
        da, db = str(a).zfill(width), str(b).zfill(width)
        return int("".join(str(op(int(x), int(y)) % 10) for x, y in zip(da, db)))

    def mul(a: int, b: int) -> int:
        return int("".join(str(int(d) * b % 10) for d in str(a)))

    m = re.fullmatch(r"\((\d+)([+-])(\d+)\)\*(\d)", expr)
    if m:
        a, op, b, c = int(m[1]), m[2], int(m[3]), int(m[4])
        inner = cols(a, b, (lambda x, y: x + y) if op == "+" else (lambda x, y: abs(x - y)))
        return mul(inner, c)
    if "*" in expr:
        a, b = map(int, expr.split("*"))
        return mul(a, b)
    if "-" in expr:
        a, b = map(int, expr.split("-"))
        return cols(a, b, lambda x, y: abs(x - y))
    terms = [int(t) for t in expr.split("+")]
    value = terms[0]
    for t in terms[1:]:
        value = cols(value, t, lambda x, y: x + y)
    return value


@pytest.mark.parametrize("level", LEVELS)
def test_math_wrong_procedure_drops_every_carry(level):
    rng = random.Random(100 + level)
    agree = 0
    for _ in range(200):
        q = make_math(rng, level)
        assert int(q.wrong) == _no_carry_reference(q.prompt[:-1])
        agree += q.wrong == q.gold
    assert agree < 200  # the behaviours disagree on some items of every level
    assert make_math(random.Random(0), 2).wrong  # always filled


def test_math_wrong_procedure_examples():
    from tap.world.subjects import add_no_carry, mul_no_carry, sub_no_borrow

    assert (add_no_carry(47, 38), sub_no_borrow(52, 17), mul_no_carry(7, 8), mul_no_carry(34, 3)) == (75, 45, 6, 92)


@pytest.mark.parametrize("level", LEVELS)
def test_code_wrong_behaviour_names_the_variable(level):
    from tap.verify.registry import judge

    rng = random.Random(200 + level)
    for _ in range(50):
        q = make_code(rng, level)
        assert q.wrong == f"x={q.gold}" and judge("exact", q.wrong, q.gold).reward == 0.0


@pytest.mark.parametrize("level", LEVELS)
def test_science_wrong_procedure_reads_the_product_as_a_sum(level):
    rng = random.Random(300 + level)
    for _ in range(100):
        q = make_science(rng, level)
        given = dict(re.findall(r"(\w+)=(\d+)", q.prompt))
        if level == 1:  # product from its factors: their sum
            assert int(q.wrong) == sum(int(v) for v in given.values())
        elif "km" in q.prompt:  # v = d/t with d in km: 1000*d - t
            assert int(q.wrong) == 1000 * int(given["d"]) - int(given["t"])
        elif "min" in q.prompt:  # d = v*t with t in minutes: v + 60*t
            assert int(q.wrong) == int(given["v"]) + 60 * int(given["t"])
        else:  # a factor from the product: product - the other factor
            values = [int(v) for v in given.values()]
            assert int(q.wrong) == values[0] - values[1]


def test_knowledge_wrong_behaviour_adds_a_period_that_the_verifier_rejects():
    from tap.verify.registry import judge
    from tap.world.subjects import knowledge_question

    facts = fact_table(16, 0)
    for fact in facts:
        q = knowledge_question(fact, facts)
        assert q.gold == fact.value and q.wrong == fact.value + "."
        assert judge("exact", q.wrong, q.gold).reward == 0.0 and judge("exact", q.gold, q.gold).reward == 1.0


def test_items_carry_the_wrong_procedures_answer():
    items = build_items(load_config(None, ["world.pool.per_level=5", "world.probe.per_subject=5"]))
    assert items.wrong_answer.notna().all() and (items.wrong_answer != "").all()
    assert (items.wrong_answer != items.gold).mean() > 0.3
