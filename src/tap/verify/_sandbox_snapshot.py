"""What the tests see of the standard library and the builtins: as it was before the program ran.

A program can replace `math.isclose`, `builtins.len` or `sys.modules['math']` so that a wrong answer
passes. Two walls stand against it. The tests run with their own copy of the builtins, and every
module they import, or find in the program's namespace, is a copy made from a snapshot taken before
the program ran, so a replacement does not reach them; and after every assert and at the end, the
real modules are compared with the snapshot, and any callable or class that was swapped fails the
run with its name ("the program replaced math.isclose"). Runs in the sandbox under `-I -S`.
"""

import sys
from types import ModuleType


def take(skip: frozenset) -> list[tuple]:
    """(name, module, module dict, items) for each loaded module not in `skip`: call before the program."""
    module_dict = ModuleType.__dict__["__dict__"].__get__
    taken = []
    for name, module in list(sys.modules.items()):
        if type(module) is ModuleType and name not in skip:
            attrs = module_dict(module)
            taken.append((name, module, attrs, tuple(attrs.items())))
    return taken


def make_views(taken: list[tuple], builtins_dict: dict):
    """`namespace_for_tests(program_namespace)` and `unchanged()`, both bound now.

    The tests' namespace is the program's, less any name that shadows a builtin (a program must not
    hand the tests its own `abs`), with snapshot copies in place of the modules it holds.
    """
    type_, str_, id_, module_type = type, str, id, ModuleType
    module_dict, modules_get, dict_get, dict_items = (
        ModuleType.__dict__["__dict__"].__get__,
        sys.modules.get,
        dict.get,
        dict.items,
    )
    real_import = builtins_dict["__import__"]
    by_name = {name: (module, items) for name, module, _, items in taken}
    name_by_id = {id(module): name for name, module, _, _ in taken}
    watched = tuple(
        (name, module, attrs, tuple((k, v) for k, v in items if callable(v)))
        for name, module, attrs, items in taken
        if name != "sys"
    )
    copies, missing = {}, object()

    def copy_of(name):
        if name not in copies:
            module, items = by_name[name]
            copy = copies[name] = module_type(name)
            attrs = module_dict(copy)
            for key, value in items:
                attrs[key] = same_or_copy(value)
        return copies[name]

    def same_or_copy(value):
        if type_(value) is module_type and id_(value) in name_by_id:
            name = name_by_id[id_(value)]
            if by_name[name][0] is value and name != "sys" and name != "builtins":
                return copy_of(name)
        return value

    def tests_import(name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0 and type_(name) is str_ and name in by_name and name != "sys" and name != "builtins":
            if fromlist:
                return copy_of(name)
            top = name.partition(".")[0]
            if top in by_name:
                return copy_of(top)
        return real_import(name, globals, locals, fromlist, level)

    tests_builtins = dict(builtins_dict, __import__=tests_import)
    builtin_items = tuple(tests_builtins.items())

    def namespace_for_tests(program_namespace):
        namespace = {}
        for key, value in dict_items(program_namespace):
            if not (type_(key) is str_ and key in tests_builtins):
                namespace[key] = same_or_copy(value)
        namespace["__builtins__"], namespace["__name__"] = tests_builtins, "__main__"
        return namespace

    def unchanged():
        for name, module, attrs, items in watched:
            if modules_get(name) is not module:
                return f"the program replaced sys.modules[{name!r}]"
            for key, value in items:
                if dict_get(attrs, key, missing) is not value:
                    return f"the program replaced {name}.{key}"
        for key, value in builtin_items:
            if dict_get(tests_builtins, key, missing) is not value:
                return f"the program replaced the tests' builtin {key}"
        return None

    return namespace_for_tests, unchanged
