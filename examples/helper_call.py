def add(a, b):
    y = a
    y = y + b
    return y

# neurodebug: f(1)
def f(n):  # << START_OF_TRACE
    t = add(n, 2)
    return t * 2
