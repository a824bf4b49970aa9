"""The helpers the rewritten asserts call (see `_sandbox_asserts`): comparisons decided by C code only.

`compare` decides a comparison only when both values are built-in data all the way down, `truth`
passes a value on only when its truth comes from a C `__bool__` or `__len__`, and `assert_` ends
each assert, after asking whether the program replaced anything the tests rely on. Each raises
`Rejected`, with the reason, when Python code would decide. They bind every builtin they use when
they are made, before the program runs, and look up no global name afterwards.
Runs in the sandbox under `-I -S`: standard library only.
"""

import collections
import operator

# Operator codes, as `_sandbox_asserts.OPERATORS` orders them: ==, !=, <, <=, >, >=, then these.
MEMBERSHIP, NOT_MEMBERSHIP, IDENTITY, NOT_IDENTITY = 6, 7, 8, 9
COMPARISONS = ("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__")
SUFFIX = "; asserts compare values whose comparison is built in"
CAP = 1_000_000  # a value with more parts than this is not checked (and fails)


class Rejected(AssertionError):
    """An assert the sandbox would not let Python code decide, or a run whose helpers were replaced."""


def _kinds() -> dict:
    """id(type) -> how its values are checked, for the built-in types a comparison may look inside."""
    kinds = dict.fromkeys(map(id, (int, bool, float, complex, type(None), type(...), type(NotImplemented))), "scalar")
    kinds.update(dict.fromkeys(map(id, (str, bytes, bytearray)), "text"))
    kinds.update(dict.fromkeys(map(id, (type({}.keys()), type({}.values()), type({}.items()))), "view"))
    kinds.update(
        {
            id(range): "range",
            id(list): "list",
            id(tuple): "tuple",
            id(set): "set",
            id(frozenset): "frozenset",
            id(dict): "dict",
        }
    )
    return kinds


def _make_classifier():
    """`kind_of(type, cache)` -> (kind, problem) and `resolve(type, names)`, read through the
    interpreter's own descriptors (`type.__mro__`, `type.__dict__`) so that a metaclass cannot answer
    for them, never hashing a type; a class dict with a non-string key is refused, since looking a
    name up in it could run the program's code."""
    type_, str_, int_, float_, bool_, id_ = type, str, int, float, bool, id
    mro_of, dict_of, name_of = (
        type.__dict__["__mro__"].__get__,
        type.__dict__["__dict__"].__get__,
        type.__dict__["__name__"].__get__,
    )
    c_code, kind_by_id = (type(object.__eq__), type(str.join)), _kinds()
    object_dunders = {name: object.__dict__[name] for name in COMPARISONS}
    compare_names = COMPARISONS + ("__hash__", "__contains__")

    def resolve(tp, names):
        """[(name, attribute, owner)] as Python's lookup finds them, or a problem."""
        mro, found = mro_of(tp), []
        for cls in mro:
            for key in dict_of(cls):
                if type_(key) is not str_:
                    return None, f"{name_of(tp)} has an attribute whose name is not a string"
        for name in names:
            for cls in mro:
                attrs = dict_of(cls)
                if name in attrs:
                    found.append((name, attrs[name], cls))
                    break
        return found, None

    def classify(tp):
        found, problem = resolve(tp, compare_names)
        if problem is not None:
            return None, problem
        base = None
        for cls in mro_of(tp):
            base = base or kind_by_id.get(id_(cls))
        for name, attr, owner in found:
            if attr is None and name == "__hash__":
                continue
            if type_(attr) not in c_code:
                return None, f"comparison decided by Python code ({name_of(owner)}.{name})"
            if base is None and name in object_dunders and attr is not object_dunders[name]:
                return None, f"comparison decided by {name_of(owner)}.{name}, code this sandbox does not look into"
        return base or "identity", None

    def kind_of(tp, cache):
        if tp is int_ or tp is float_ or tp is bool_:
            return "scalar", None
        if tp is str_:
            return "text", None
        kind = kind_by_id.get(id_(tp))
        if kind is not None:
            return kind, None
        if id_(tp) not in cache:
            cache[id_(tp)] = classify(tp)
        return cache[id_(tp)]

    def truth_problem(value):
        tp = type_(value)
        if tp is bool_ or id_(tp) in kind_by_id:
            return None
        found, problem = resolve(tp, ("__bool__", "__len__"))
        if problem is not None or not found:
            return problem
        name, attr, owner = found[0]
        return None if type_(attr) in c_code else f"truth value decided by Python code ({name_of(owner)}.{name})"

    return kind_of, truth_problem, name_of


def make_rules(cap: int = CAP):
    """`operand_problem(value, membership)` and `truth_problem(value)`: None when built-in code decides."""
    kind_of, truth_problem, name_of = _make_classifier()
    type_ = type
    iterate = {"list": list.__iter__, "tuple": tuple.__iter__, "set": set.__iter__, "frozenset": frozenset.__iter__}
    dict_keys, dict_values = dict.keys, dict.values

    def operand_problem(value, membership):
        stack, count, cache = [value], 0, {}
        while stack:
            item = stack.pop()
            count += 1
            if count > cap:
                return f"a value with more than {cap} parts"
            kind, problem = kind_of(type_(item), cache)
            if problem is not None:
                return problem
            if membership and count == 1 and kind in ("scalar", "identity"):
                return f"membership in {name_of(type_(item))}, whose contents this sandbox does not check"
            if kind in iterate:
                stack.extend(iterate[kind](item))
            elif kind == "dict":
                stack.extend(dict_keys(item))
                stack.extend(dict_values(item))
            elif kind == "view":
                stack.extend(item)
        return None

    return operand_problem, truth_problem


def make_helpers(unchanged, gc_functions, rules=None) -> dict:
    """The helpers the rewritten asserts call, by role: "compare", "truth", "assert".

    `unchanged()` names what the program replaced (or None); it runs after every assert.
    `gc_functions` = (isenabled, disable, enable): the collector is off between checking two values
    and comparing them, so that no finaliser of the program's can change them in between.
    """
    operand_problem, truth_problem = rules or make_rules()
    gc_isenabled, gc_disable, gc_enable = gc_functions
    rejected, len_, type_, dict_, counter, suffix = Rejected, len, type, dict, collections.Counter, SUFFIX
    membership, identity, not_identity = MEMBERSHIP, IDENTITY, NOT_IDENTITY
    apply = (operator.eq, operator.ne, operator.lt, operator.le, operator.gt, operator.ge,
             lambda left, right: left in right, lambda left, right: left not in right)

    def decide(code, left, right):
        if code == identity or code == not_identity:
            return (left is right) if code == identity else (left is not right)
        enabled = gc_isenabled()
        gc_disable()
        try:
            if (
                code <= 1
            ):  # a Counter's == is Python code; `Counter == dict` is decided by dict.__eq__: compare plain dicts
                left, right = (
                    (dict_(left) if type_(left) is counter else left),
                    (dict_(right) if type_(right) is counter else right),
                )
            problem = operand_problem(left, False) or operand_problem(right, code >= membership)
            if problem is not None:
                raise rejected(problem + suffix)
            return apply[code](left, right)
        finally:
            if enabled:
                gc_enable()

    def compare(codes, left, right, *later):
        index = 0
        while decide(codes[index], left, right) is True:
            index += 1
            if index == len_(codes):
                return True
            left, right = right, later[index - 1]()
        return False

    def truth(value):
        problem = truth_problem(value)
        if problem is not None:
            raise rejected(problem)
        return value

    def assert_(value):
        outcome = not not truth(value)
        problem = unchanged()
        if problem is not None:
            raise rejected(problem)
        return outcome

    return {"compare": compare, "truth": truth, "assert": assert_}
