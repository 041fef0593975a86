"""The random literals that both families of generated programs draw from (datagen's typed
programs and tasks' exercise-style ones), kept apart so that each family imports them alone."""

from __future__ import annotations

import random

WORDS = [
    "apple", "banana", "cat", "dog", "egg", "fig", "grape", "hat", "ice", "jam", "kiwi", "lemon", "mango",
    "net", "owl", "pear", "quiz", "rose", "sun", "tea", "up", "van", "wolf", "box", "yak", "zoo", "red",
    "blue", "hello", "world", "abc", "xyz", "level", "noon", "code", "data", "tree", "node", "key", "map",
    "a", "bb", "ccc", "ab", "ba", "aab", "racecar", "python", "test", "one", "two", "three", "hi", "go",
]
CHARS = "abcdexyz"


def rand_int(rng: random.Random, lo: int = -5, hi: int = 20) -> int:
    r = rng.random()
    if r < 0.6:
        return rng.randint(0, 9)
    if r < 0.85:
        return rng.randint(lo, hi)
    return rng.randint(-50, 120)
