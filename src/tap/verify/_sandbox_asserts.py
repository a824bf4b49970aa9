"""How the sandbox runs the tests' asserts: only comparisons the interpreter decides itself count.

No sandbox can stop a program from returning an object whose `__eq__` always answers True, and
`assert add(2, 3) == 5` would then pass. So every comparison inside an `assert` (anywhere in its
expression, in comprehensions, inside functions such as HumanEval's `check`) is rewritten into a
call to a strict check, and so is every truth test Python makes there (`not`, `and`, `or`, `if`,
`all(...)`, `any(...)`, and the assert's own). A comparison is decided only when both values are
built-in data all the way down: numbers, strings, bytes, None, ranges, and lists, tuples, dicts,
sets and frozensets of those (subclasses count when every comparison method they resolve to is the
interpreter's own C code), or objects compared by identity alone. Anything else fails the assert
with the reason, by design: a correct program that returns a `Fraction`, a `Decimal` or a class of
its own compared with `==` fails too. (A `Counter` on either side of `==` or `!=` is compared as the
plain dict it is, which is what `Counter == dict` does anyway; two Counters that differ only by
zero counts then differ.)

This module rewrites and compiles the tests; `_sandbox_compare` holds the helpers, which reach the
compiled tests as constants, not names, so no namespace can rebind them. Runs in the sandbox under
`-I -S`: standard library only.
"""

import ast
import warnings

ROLES = ("compare", "truth", "assert")
# The operator codes the compare helper receives are indices in this tuple (see _sandbox_compare).
OPERATORS = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn, ast.Is, ast.IsNot)


def placeholders(token: str) -> dict[str, str]:
    """String constants that stand for the helpers in the compiled tests until `inject` swaps them."""
    return {role: f"\x00tap-{role}-{token}" for role in ROLES}


def static_imports(tree: ast.AST) -> list[str]:
    """Modules the tests import (and, for `from a import b`, `a.b` in case it is a submodule)."""
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names if alias.name != "*"]
    return names


def _call(placeholder: str, args: list, like: ast.AST) -> ast.Call:
    return ast.copy_location(ast.Call(func=ast.Constant(placeholder), args=args, keywords=[]), like)


def _thunk(node: ast.expr) -> ast.Lambda:
    """`lambda: node`, so that a chained comparison evaluates its later operands only when Python would."""
    empty = ast.arguments(posonlyargs=[], args=[], vararg=None, kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[])
    return ast.copy_location(ast.Lambda(args=empty, body=node), node)


class _Expression(ast.NodeTransformer):
    """Rewrites one assert's expression: comparisons go to COMPARE, truth tests through TRUTH."""

    def __init__(self, names: dict[str, str]):
        self.names = names

    def truth(self, node: ast.expr) -> ast.Call:
        return _call(self.names["truth"], [node], node)

    def visit_Lambda(self, node):  # a lambda the tests hand to the program keeps plain Python semantics
        return node

    def visit_Compare(self, node):
        self.generic_visit(node)
        codes = tuple(OPERATORS.index(type(op)) for op in node.ops)
        operands = [node.left, node.comparators[0]] + [_thunk(later) for later in node.comparators[1:]]
        return _call(self.names["compare"], [ast.Constant(codes), *operands], node)

    def visit_BoolOp(self, node):
        self.generic_visit(node)
        node.values = [self.truth(value) for value in node.values]
        return node

    def visit_UnaryOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, ast.Not):
            node.operand = self.truth(node.operand)
        return node

    def visit_IfExp(self, node):
        self.generic_visit(node)
        node.test = self.truth(node.test)
        return node

    def visit_comprehension(self, node):
        self.generic_visit(node)
        node.ifs = [self.truth(condition) for condition in node.ifs]
        return node

    def visit_Call(self, node):
        self.generic_visit(node)
        if (
            isinstance(node.func, ast.Name)
            and node.func.id in ("all", "any", "bool")
            and len(node.args) == 1
            and not node.keywords
        ):
            (arg,) = node.args
            if node.func.id == "bool" and not isinstance(arg, ast.Starred):
                node.args = [self.truth(arg)]
            elif isinstance(arg, (ast.GeneratorExp, ast.ListComp, ast.SetComp)):
                arg.elt = self.truth(arg.elt)
            elif isinstance(arg, (ast.List, ast.Tuple, ast.Set)):
                arg.elts = [
                    element if isinstance(element, ast.Starred) else self.truth(element) for element in arg.elts
                ]
        return node


class _Asserts(ast.NodeTransformer):
    """`assert E, msg` becomes `assert ASSERT(E'), msg`, wherever the assert is."""

    def __init__(self, names: dict[str, str]):
        self.names = names

    def visit_Assert(self, node):
        test = _Expression(self.names).visit(node.test)
        node.test = _call(self.names["assert"], [test], node.test)
        return node


def compile_tests(source: str, names: dict[str, str]):
    """The tests compiled with their asserts rewritten (helpers still placeholders), and their imports."""
    tree = ast.parse(source, "<tests>")
    imports = static_imports(tree)
    tree = ast.fix_missing_locations(_Asserts(names).visit(tree))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)  # "'str' object is not callable": the placeholders
        code = compile(tree, "<tests>", "exec", dont_inherit=True, optimize=0)
    return code, imports


def inject(code, mapping: dict):
    """`code` with each placeholder constant replaced by its helper, in nested code objects too."""
    consts = tuple(
        inject(const, mapping)
        if isinstance(const, type(code))
        else mapping.get(const, const)
        if type(const) is str
        else const
        for const in code.co_consts
    )
    return code.replace(co_consts=consts)
