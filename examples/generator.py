def evens(n):
    for i in range(n):
        if i % 2 == 0:
            yield i


# neurodebug: sum_evens(5)
def sum_evens(n):  # << START_OF_TRACE
    total = 0
    for x in evens(n):
        total += x
    return total
