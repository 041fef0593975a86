"""Programs shared by the tests."""

#: The worked example of docs/trace-format.md, exactly as written there (entry f, called as f(1)).
WORKED_EXAMPLE = """\
def add(a, b):
    y = a
    y = y + b
    return y

def f(n):  # << START_OF_TRACE
    t = add(n, 2)
    return t * 2
"""
