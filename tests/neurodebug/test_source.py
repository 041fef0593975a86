"""Call discovery: the command's argument, a `# neurodebug:` comment, the first doctest example."""

from neurodebug.trace.source import call_for, function_at, functions

SOURCE = '''import math

# neurodebug: count('strawberry', 'r')
def count(s, ch):
    n = 0
    for c in s:
        if c == ch:
            n += 1
    return n


def area(r):
    """Area of a circle.

    >>> round(area(1.0), 2)
    3.14
    >>> area(
    ...     2.0)
    12.566370614359172
    """
    return math.pi * r * r


# a plain comment
# neurodebug: f(1)
@staticmethod
def decorated(x):
    return x


def nothing(a):
    """No examples here."""
    return a


class K:
    def method(self):
        return 1
'''


def test_functions_are_module_level_defs_with_lines():
    fs = functions(SOURCE)
    assert [f.name for f in fs] == ["count", "area", "decorated", "nothing", "K.method"]
    count = fs[0]
    assert (count.line, count.end_line, count.first_line) == (4, 9, 4)
    assert fs[2].first_line == 26 and fs[2].line == 27


def test_comment_above_def_and_above_decorators():
    fs = {f.name: f for f in functions(SOURCE)}
    assert (fs["count"].call, fs["count"].origin) == ("count('strawberry', 'r')", "comment")
    assert (fs["decorated"].call, fs["decorated"].origin) == ("f(1)", "comment")


def test_first_doctest_example_that_calls_the_function():
    # `round(area(1.0), 2)` is not a call of area itself; the multi-line one is.
    f = {f.name: f for f in functions(SOURCE)}["area"]
    assert (f.call, f.origin) == ("area(2.0)", "doctest")


def test_no_call_means_the_model_proposes():
    f = {f.name: f for f in functions(SOURCE)}["nothing"]
    assert f.call is None and f.origin is None
    assert call_for(SOURCE, "nothing") is None


def test_explicit_argument_wins():
    assert call_for(SOURCE, "count", "count('kiwi', 'i')") == "count('kiwi', 'i')"
    assert call_for(SOURCE, "count", "   ") == "count('strawberry', 'r')"
    assert call_for(SOURCE, "count", None) == "count('strawberry', 'r')"


def test_function_at_a_line():
    assert function_at(SOURCE, 7).name == "count"
    assert function_at(SOURCE, 26).name == "decorated"
    assert function_at(SOURCE, 1) is None


def test_source_that_does_not_parse_has_no_functions():
    assert functions("def f(:\n    pass\n") == []
