# neurodebug: top_words('the cat and the hat and the bat')
def top_words(text):  # << START_OF_TRACE
    counts = {}
    for word in text.split():
        counts[word] = counts.get(word, 0) + 1
    ranked = sorted(counts, key=counts.get, reverse=True)
    return ranked[:2]
