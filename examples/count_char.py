# neurodebug: count('strawberry', 'r')
def count(s, c):  # << START_OF_TRACE
    n = 0
    for ch in s:
        if ch == c:
            n += 1
    return n
