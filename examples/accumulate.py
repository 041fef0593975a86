# neurodebug: running_max([3, 1, 4, 1, 5])
def running_max(xs):  # << START_OF_TRACE
    best = xs[0]
    out = []
    for x in xs:
        if x > best:
            best = x
        out.append(best)
    return out
