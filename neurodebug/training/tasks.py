"""Exercise-style training programs: the data family of ``datagen`` style 2.

The shipped model was trained on short generated functions (style 1). User code, and the
HumanEval suite it is measured on, looks different: a descriptive function name, a prose
docstring with an example call and its result, type hints, nested loops over indices,
strings built up piece by piece, a helper called from a comprehension, and traces of a
hundred frames rather than twenty. This module writes such functions from templates of
its own (classic exercises: pairs, run-length encoding, grids, merging, sliding windows,
parsing...), with randomised names, literals, sizes and inputs.

None of these templates is a HumanEval or CruxEval problem, and none may become one: those
are the evaluation sets. The docstring's example uses an input that is not one of the traced
ones, so the model cannot learn to copy a result from the docstring.
"""

from __future__ import annotations

import ast
import random
from typing import Callable

from neurodebug.training.literals import CHARS, WORDS, rand_int

#: Traces of these programs may be this long (the style 1 limit is datagen.MAX_FRAMES).
TASK_MAX_FRAMES = 120

_Task = tuple[str, str, list[str], str, str]  # (source, entry, calls, example call, description)


def _pick(rng: random.Random, *pools: list[str]) -> list[str]:
    """One distinct name from each pool."""
    out: list[str] = []
    for pool in pools:
        out.append(rng.choice([n for n in pool if n not in out]))
    return out


def _ints(rng: random.Random, lo: int, hi: int, n_lo: int, n_hi: int) -> list[int]:
    return [rng.randint(lo, hi) for _ in range(rng.randint(n_lo, n_hi))]


def _word_list(rng: random.Random, n_lo: int, n_hi: int, max_len: int = 7) -> list[str]:
    return [w for w in (rng.choice(WORDS) for _ in range(rng.randint(n_lo, n_hi))) if len(w) <= max_len]


def _sentence(rng: random.Random, n_lo: int = 2, n_hi: int = 5) -> str:
    return " ".join(_word_list(rng, n_lo, n_hi, 6) or ["go"])


def _runs(rng: random.Random) -> str:
    alphabet = rng.sample(CHARS, rng.randint(2, 3))
    return "".join(rng.choice(alphabet) * rng.choice([1, 1, 2, 3]) for _ in range(rng.randint(1, 4)))


def _inputs(rng: random.Random, make: Callable[[], str], n: int = 4) -> tuple[list[str], str]:
    """Three traced inputs and a distinct one for the docstring (the last drawn that differs)."""
    calls = [make() for _ in range(n - 1)]
    example = make()
    for _ in range(5):
        if example not in calls:
            break
        example = make()
    return calls, example


# -- the templates ----------------------------------------------------------------------------


def t_pairs(rng: random.Random) -> _Task:
    fn = rng.choice(["count_pairs", "pairs_over", "big_pairs", "num_pairs", "pair_count", "find_pairs"])
    xs, lim, c = _pick(rng, ["nums", "values", "numbers", "arr", "xs"], ["limit", "bound", "k", "threshold"],
                       ["count", "total", "found", "pairs", "hits"])
    op, word = rng.choice([("*", "product"), ("+", "sum"), ("-", "difference")])
    cmp, cword = rng.choice([(">", "greater than"), ("<", "less than"), ("==", "equal to")])
    collect = rng.random() < 0.4
    init, act, what = ("[]", f"{c}.append((i, j))", "the index pairs") if collect else ("0", f"{c} += 1", "how many pairs")
    src = (f"def {fn}({xs}, {lim}):\n    {c} = {init}\n    for i in range(len({xs})):\n"
           f"        for j in range(i + 1, len({xs})):\n            if {xs}[i] {op} {xs}[j] {cmp} {lim}:\n"
           f"                {act}\n    return {c}\n")
    calls, ex = _inputs(rng, lambda: f"{_ints(rng, -3, 9, 2, 5)}, {rng.randint(-2, 12)}")
    return src, fn, calls, ex, f"Return {what} (i, j), i < j, whose {word} is {cword} {lim}."


def t_rle(rng: random.Random) -> _Task:
    fn = rng.choice(["compress", "run_length", "encode_runs", "squeeze", "rle"])
    s, out, prev, cnt = _pick(rng, ["s", "text", "string", "word"], ["out", "result", "encoded", "res"],
                              ["prev", "last", "cur"], ["n", "count", "run"])
    as_list = rng.random() < 0.35
    if as_list:
        init, add, desc = "[]", f"{out}.append(({prev}, {cnt}))", "a list of (character, run length) pairs"
    else:
        init, add, desc = "''", f"{out} += {prev} + str({cnt})", "each run of a character as the character and the run length"
    src = (f"def {fn}({s}):\n    if not {s}:\n        return {init}\n    {out} = {init}\n    {prev} = {s}[0]\n    {cnt} = 1\n"
           f"    for ch in {s}[1:]:\n        if ch == {prev}:\n            {cnt} += 1\n        else:\n"
           f"            {add}\n            {prev} = ch\n            {cnt} = 1\n    {add}\n    return {out}\n")
    calls, ex = _inputs(rng, lambda: repr(_runs(rng)))
    return src, fn, calls, ex, f"Encode the string as {desc}."


def t_grid_rows(rng: random.Random) -> _Task:
    fn = rng.choice(["row_totals", "best_row", "heaviest_row", "row_sums", "max_row"])
    grid, tot, row, t, best = _pick(rng, ["grid", "matrix", "rows", "table"], ["totals", "sums", "scores"],
                                    ["row", "line", "r"], ["t", "s", "acc"], ["best", "top", "idx"])
    src = (f"def {fn}({grid}):\n    {tot} = []\n    for {row} in {grid}:\n        {t} = 0\n        for v in {row}:\n"
           f"            {t} += v\n        {tot}.append({t})\n    {best} = 0\n    for i in range(1, len({tot})):\n"
           f"        if {tot}[i] > {tot}[{best}]:\n            {best} = i\n    return {best}, {tot}[{best}]\n")
    calls, ex = _inputs(rng, lambda: repr([_ints(rng, -2, 9, 1, 3) for _ in range(rng.randint(1, 3))]))
    return src, fn, calls, ex, "Sum every row of the grid; return the index of the largest row sum and that sum."


def t_initials(rng: random.Random) -> _Task:
    fn = rng.choice(["initials", "acronym", "first_letters", "abbreviate", "short_form"])
    text, k, res, w = _pick(rng, ["text", "sentence", "phrase", "s"], ["k", "min_len", "n"], ["res", "out", "letters"],
                            ["w", "word", "part"])
    sep = rng.choice(["", "", "."])
    kd = rng.randint(1, 3)
    src = (f"def {fn}({text}, {k}={kd}):\n    {res} = ''\n    for {w} in {text}.split():\n        if len({w}) > {k}:\n"
           f"            {res} += {w}[0].upper(){f' + {sep!r}' if sep else ''}\n    return {res}\n")
    calls, ex = _inputs(rng, lambda: repr(_sentence(rng)) + (f", {rng.randint(0, 4)}" if rng.random() < 0.4 else ""))
    return src, fn, calls, ex, f"Join the upper-cased first letters of the words longer than {k}."


def t_bucket(rng: random.Random) -> _Task:
    fn = rng.choice(["group_by_length", "by_length", "length_groups", "bucket_words", "sort_by_size"])
    words, groups, w, n, keys = _pick(rng, ["words", "names", "items", "strs"], ["groups", "buckets", "by_len", "table"],
                                      ["w", "word", "name"], ["n", "size", "length"], ["keys", "sizes", "order"])
    src = (f"def {fn}({words}):\n    {groups} = {{}}\n    for {w} in {words}:\n        {n} = len({w})\n"
           f"        if {n} not in {groups}:\n            {groups}[{n}] = []\n        {groups}[{n}].append({w})\n"
           f"    {keys} = sorted({groups})\n    return [{groups}[k] for k in {keys}]\n")
    calls, ex = _inputs(rng, lambda: repr(_word_list(rng, 1, 5)))
    return src, fn, calls, ex, "Group the words by their length, shortest first, keeping their order within a group."


def t_merge(rng: random.Random) -> _Task:
    fn = rng.choice(["merge", "merge_sorted", "combine_sorted", "zip_sorted", "union_sorted"])
    a, b, out = _pick(rng, ["a", "left", "xs", "first"], ["b", "right", "ys", "second"], ["out", "merged", "result"])
    src = (f"def {fn}({a}, {b}):\n    i = j = 0\n    {out} = []\n    while i < len({a}) and j < len({b}):\n"
           f"        if {a}[i] <= {b}[j]:\n            {out}.append({a}[i])\n            i += 1\n        else:\n"
           f"            {out}.append({b}[j])\n            j += 1\n    {out}.extend({a}[i:])\n    {out}.extend({b}[j:])\n"
           f"    return {out}\n")
    calls, ex = _inputs(rng, lambda: f"{sorted(_ints(rng, -5, 15, 0, 4))}, {sorted(_ints(rng, -5, 15, 0, 4))}")
    return src, fn, calls, ex, "Merge two sorted lists into one sorted list."


def t_digits(rng: random.Random) -> _Task:
    fn = rng.choice(["alternating_sum", "digit_balance", "signed_digits", "weave_digits", "digit_score"])
    n, digits, total = _pick(rng, ["n", "number", "num", "value"], ["digits", "ds", "parts"], ["total", "score", "acc"])
    rev = rng.random() < 0.5
    src = (f"def {fn}({n}):\n    {digits} = []\n    while {n} > 0:\n        {digits}.append({n} % 10)\n        {n} //= 10\n"
           + (f"    {digits}.reverse()\n" if rev else "")
           + f"    {total} = 0\n    for i, d in enumerate({digits}):\n        if i % 2 == 0:\n            {total} += d\n"
           f"        else:\n            {total} -= d\n    return {total}\n")
    calls, ex = _inputs(rng, lambda: str(rng.choice([rng.randint(0, 99), rng.randint(100, 99999)])))
    order = "from the first digit" if rev else "from the last digit"
    return src, fn, calls, ex, f"Add and subtract the digits of {n} in turn, {order}."


def t_window(rng: random.Random) -> _Task:
    fn = rng.choice(["best_window", "max_window", "window_sum", "densest_span", "top_stretch"])
    xs, k, best, cur, start = _pick(rng, ["xs", "nums", "values", "readings"], ["k", "width", "size"],
                                    ["best", "top", "high"], ["cur", "window", "running"], ["start", "pos", "at"])
    src = (f"def {fn}({xs}, {k}):\n    if len({xs}) < {k}:\n        return None\n    {best} = sum({xs}[:{k}])\n"
           f"    {cur} = {best}\n    {start} = 0\n    for i in range({k}, len({xs})):\n"
           f"        {cur} += {xs}[i] - {xs}[i - {k}]\n        if {cur} > {best}:\n            {best} = {cur}\n"
           f"            {start} = i - {k} + 1\n    return {start}, {best}\n")
    calls, ex = _inputs(rng, lambda: f"{_ints(rng, -4, 9, 1, 6)}, {rng.randint(1, 3)}")
    return src, fn, calls, ex, f"Find the {k} consecutive numbers with the largest sum: return where they start and the sum."


def t_mask(rng: random.Random) -> _Task:
    fn = rng.choice(["mask_every", "hide_chars", "censor", "blank_out", "stars"])
    s, k, chars = _pick(rng, ["s", "text", "secret", "word"], ["k", "step", "every"], ["chars", "out", "buf"])
    m = rng.choice(["*", "#", "_", "-"])
    src = (f"def {fn}({s}, {k}):\n    {chars} = []\n    for i, ch in enumerate({s}):\n        if (i + 1) % {k} == 0:\n"
           f"            {chars}.append({m!r})\n        else:\n            {chars}.append(ch)\n    return ''.join({chars})\n")
    calls, ex = _inputs(rng, lambda: f"{rng.choice(WORDS)!r}, {rng.randint(1, 4)}")
    return src, fn, calls, ex, f"Replace every {k}-th character with {m!r}."


def t_common(rng: random.Random) -> _Task:
    fn = rng.choice(["shared_letters", "common_counts", "overlap", "letter_hits", "match_scores"])
    words, key, counts, w, c = _pick(rng, ["words", "names", "items"], ["key", "ref", "target"], ["counts", "scores", "out"],
                                     ["w", "word", "name"], ["c", "n", "hits"])
    src = (f"def {fn}({words}, {key}):\n    {counts} = []\n    for {w} in {words}:\n        {c} = 0\n        for ch in {w}:\n"
           f"            if ch in {key}:\n                {c} += 1\n        {counts}.append({c})\n    return {counts}\n")
    calls, ex = _inputs(rng, lambda: f"{_word_list(rng, 1, 3, 5)!r}, {rng.choice(WORDS)!r}")
    return src, fn, calls, ex, f"For every word, count its letters that occur in {key}."


def t_transpose(rng: random.Random) -> _Task:
    fn = rng.choice(["transpose", "columns", "flip_grid", "to_columns", "swap_axes"])
    grid, out, col, row = _pick(rng, ["grid", "matrix", "rows", "m"], ["out", "cols", "result"], ["col", "column", "c"],
                                ["row", "r", "line"])
    src = (f"def {fn}({grid}):\n    if not {grid}:\n        return []\n    {out} = []\n    for j in range(len({grid}[0])):\n"
           f"        {col} = []\n        for {row} in {grid}:\n            {col}.append({row}[j])\n        {out}.append({col})\n"
           f"    return {out}\n")

    def make() -> str:
        w = rng.randint(1, 3)
        return repr([[rand_int(rng) for _ in range(w)] for _ in range(rng.randint(1, 3))])

    calls, ex = _inputs(rng, make)
    return src, fn, calls, ex, "Return the columns of a rectangular grid as rows."


def t_best_word(rng: random.Random) -> _Task:
    fn = rng.choice(["heaviest_word", "best_word", "top_scoring", "max_letters", "richest_word"])
    words, best, bs, w, sc = _pick(rng, ["words", "names", "candidates"], ["best", "winner", "top"],
                                   ["best_score", "high", "top_score"], ["w", "word", "cand"], ["sc", "score", "value"])
    src = (f"def {fn}({words}):\n    {best} = ''\n    {bs} = -1\n    for {w} in {words}:\n        {sc} = 0\n"
           f"        for ch in {w}:\n            {sc} += ord(ch) - ord('a') + 1\n        if {sc} > {bs}:\n"
           f"            {best}, {bs} = {w}, {sc}\n    return {best}\n")
    calls, ex = _inputs(rng, lambda: repr(_word_list(rng, 1, 3, 4)))
    return src, fn, calls, ex, "Score a word by the positions of its letters in the alphabet; return the first best word."


def t_flatten(rng: random.Random) -> _Task:
    fn = rng.choice(["flatten_unique", "merge_lists", "all_values", "collect", "unique_items"])
    lists, out, sub = _pick(rng, ["lists", "groups", "batches", "chunks"], ["out", "seen", "result"], ["sub", "group", "part"])
    src = (f"def {fn}({lists}):\n    {out} = []\n    for {sub} in {lists}:\n        for v in {sub}:\n"
           f"            if v not in {out}:\n                {out}.append(v)\n    return {out}\n")
    calls, ex = _inputs(rng, lambda: repr([_ints(rng, 0, 6, 0, 3) for _ in range(rng.randint(1, 3))]))
    return src, fn, calls, ex, "Flatten the lists, keeping the first occurrence of every value."


def t_parse(rng: random.Random) -> _Task:
    fn = rng.choice(["parse_pairs", "read_settings", "parse_config", "to_dict", "load_fields"])
    text, result, item, k, v = _pick(rng, ["text", "spec", "line", "raw"], ["result", "fields", "conf", "out"],
                                     ["item", "part", "field"], ["k", "name", "key"], ["v", "val", "raw_val"])
    sep = rng.choice([";", ",", "&"])
    src = (f"def {fn}({text}):\n    {result} = {{}}\n    for {item} in {text}.split({sep!r}):\n        if '=' not in {item}:\n"
           f"            continue\n        {k}, {v} = {item}.split('=', 1)\n        try:\n"
           f"            {result}[{k}.strip()] = int({v})\n        except ValueError:\n            {result}[{k}.strip()] = None\n"
           f"    return {result}\n")

    def make() -> str:
        parts = []
        for _ in range(rng.randint(1, 3)):
            key = rng.choice(["a", "b", "x", "id", "n", "max", "w"])
            r = rng.random()
            parts.append(f"{key}={rng.randint(0, 99)}" if r < 0.6 else f"{key}={rng.choice(WORDS)}" if r < 0.85 else key)
        return repr(sep.join(parts))

    calls, ex = _inputs(rng, make)
    return src, fn, calls, ex, f"Read 'name=number' fields separated by {sep!r}; a value that is not a number becomes None."


def t_reverse_long(rng: random.Random) -> _Task:
    fn = rng.choice(["flip_long_words", "reverse_long", "mirror_words", "twist", "spin_words"])
    text, n, parts, w = _pick(rng, ["text", "sentence", "s"], ["n", "min_len", "k"], ["parts", "words", "out"], ["w", "word"])
    src = (f"def {fn}({text}, {n}):\n    {parts} = []\n    for {w} in {text}.split():\n        if len({w}) >= {n}:\n"
           f"            {parts}.append({w}[::-1])\n        else:\n            {parts}.append({w})\n    return ' '.join({parts})\n")
    calls, ex = _inputs(rng, lambda: f"{_sentence(rng)!r}, {rng.randint(2, 5)}")
    return src, fn, calls, ex, f"Reverse the words of at least {n} letters."


def t_helper_filter(rng: random.Random) -> _Task:
    h = rng.choice(["keep", "wanted", "is_match", "accept", "fits"])
    fn = rng.choice(["filter_stats", "count_and_sum", "select", "tally", "summarize"])
    xs, hits = _pick(rng, ["xs", "nums", "values", "data"], ["hits", "chosen", "kept", "sel"])
    m, r = rng.choice([(2, 0), (2, 1), (3, 0), (3, 1), (5, 0), (4, 2)])
    src = (f"def {h}(x):\n    return x % {m} == {r}\n\n\n"
           f"def {fn}({xs}):\n    {hits} = [x for x in {xs} if {h}(x)]\n    if not {hits}:\n        return 0, 0\n"
           f"    return len({hits}), sum({hits})\n")
    calls, ex = _inputs(rng, lambda: repr(_ints(rng, -3, 20, 0, 5)))
    return src, fn, calls, ex, f"Count and add up the numbers that leave {r} when divided by {m}."


TASKS: list[Callable[[random.Random], _Task]] = [
    t_pairs, t_rle, t_grid_rows, t_initials, t_bucket, t_merge, t_digits, t_window, t_mask, t_common, t_transpose,
    t_best_word, t_flatten, t_parse, t_reverse_long, t_helper_filter,
]


# -- dressing: docstring with an example, type hints ---------------------------------------------


def _hint(value, typing_style: bool) -> str | None:
    t = type(value)
    if t in (int, str, bool, float):
        return t.__name__
    if t is list:
        inner = {_hint(v, typing_style) for v in value}
        if len(inner) == 1 and None not in inner:
            x = inner.pop()
            return f"List[{x}]" if typing_style else f"list[{x}]"
        return "list"
    if t is dict:
        return "dict"
    if t is tuple:
        return "tuple"
    return None


def _example_result(source: str, entry: str, call: str) -> str | None:
    """The repr of ``entry(call)`` for our own template code (never user code), or None if it raises."""
    ns: dict = {}
    try:
        exec(compile(source, "<task>", "exec"), ns)  # noqa: S102 - a template of this module
        return repr(eval(f"{entry}({call})", ns))  # noqa: S307
    except Exception:  # noqa: BLE001
        return None


def dress(rng: random.Random, src: str, entry: str, example: str, description: str) -> str:
    """Add a HumanEval-like surface to a template: hints, a docstring with an example and its result."""
    typing_style = rng.random() < 0.5
    lines = src.rstrip("\n").split("\n")
    header: list[str] = []
    if rng.random() < 0.6:
        try:
            args = ast.literal_eval(f"({example},)")
        except (ValueError, SyntaxError):
            args = None
        for i, line in enumerate(lines):
            if line.startswith(f"def {entry}("):
                params = line[len(f"def {entry}("):-2].split(", ")
                if args is not None and len(args) >= len([p for p in params if "=" not in p]):
                    typed = []
                    for p, a in zip(params, list(args) + [None] * len(params)):
                        name, eq, default = p.partition("=")
                        h = _hint(a if a is not None or not eq else ast.literal_eval(default), typing_style)
                        typed.append(f"{name}: {h}{' = ' + default if eq else ''}" if h else p)
                    lines[i] = f"def {entry}({', '.join(typed)}):"
                    if typing_style and any("List[" in t for t in typed):
                        header = ["from typing import List", "", ""]
    result = _example_result(src, entry, example)
    doc = [f'    """{description}']
    if rng.random() < 0.8:
        doc += ["", f"    >>> {entry}({example})"] + ([f"    {result}"] if result is not None else [])
    doc += ['    """']
    if rng.random() < 0.25:  # the one-line form
        doc = [f'    """{description}"""']
    out: list[str] = []
    for line in lines:
        out.append(line)
        if line.startswith(f"def {entry}("):
            out += doc
    return "\n".join(header + out) + "\n"


def task_program(rng: random.Random) -> tuple[str, str, list[str]]:
    """One exercise-style program: (source, entry, argument expressions)."""
    src, entry, calls, example, description = rng.choice(TASKS)(rng)
    return dress(rng, src, entry, example, description), entry, calls
