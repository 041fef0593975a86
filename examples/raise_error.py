def parse_age(text):
    age = int(text)
    if age < 0:
        raise ValueError(f"negative age: {age}")
    return age


# neurodebug: total_age(['30', '-2'])
def total_age(items):  # << START_OF_TRACE
    total = 0
    for item in items:
        total += parse_age(item)
    return total
