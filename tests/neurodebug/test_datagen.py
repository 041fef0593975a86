"""The training-data generator: reproducible, diverse, and traced by the real tracer."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from neurodebug.real import sandbox
from neurodebug.real.tracer import Limits, trace_source
from neurodebug.training import datagen

ROOT = Path(__file__).resolve().parents[2]


def test_programs_are_reproducible_from_the_seed():
    assert [datagen.program(3, i) for i in range(40)] == [datagen.program(3, i) for i in range(40)]
    assert [datagen.program(3, i) for i in range(40)] != [datagen.program(4, i) for i in range(40)]


def test_programs_parse_and_cover_the_constructs_of_the_issue():
    feats = {k: 0 for k in ("for", "while", "if", "return_in_block", "try", "raise", "helper", "recursion",
                            "listcomp", "dictcomp", "setcomp", "slice", "method", "dict", "set", "tuple", "bool")}
    sources, entries = set(), set()
    for i in range(400):
        src, entry, calls = datagen.program(0, i)
        tree = ast.parse(src)
        sources.add(src)
        entries.add(entry)
        assert calls and all(isinstance(c, str) for c in calls)
        funcs = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
        assert entry in {f.name for f in funcs}
        assert 2 <= len(src.splitlines()) <= 45
        nodes = list(ast.walk(tree))
        feats["for"] += any(isinstance(n, ast.For) for n in nodes)
        feats["while"] += any(isinstance(n, ast.While) for n in nodes)
        feats["if"] += any(isinstance(n, ast.If) for n in nodes)
        feats["return_in_block"] += any(isinstance(n, (ast.If, ast.For)) and any(isinstance(m, ast.Return) for m in ast.walk(n)) for n in nodes)
        feats["try"] += any(isinstance(n, ast.Try) for n in nodes)
        feats["raise"] += any(isinstance(n, ast.Raise) for n in nodes)
        feats["helper"] += len(funcs) > 1
        feats["recursion"] += any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == f.name
                                  for f in funcs for n in ast.walk(f))
        feats["listcomp"] += any(isinstance(n, ast.ListComp) for n in nodes)
        feats["dictcomp"] += any(isinstance(n, ast.DictComp) for n in nodes)
        feats["setcomp"] += any(isinstance(n, ast.SetComp) for n in nodes)
        feats["slice"] += any(isinstance(n, ast.Slice) for n in nodes)
        feats["method"] += any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) for n in nodes)
        text = src + " ".join(calls)
        feats["dict"] += "{'" in text or "dict(" in text
        feats["set"] += "set(" in text or bool(re.search(r"\{\d", text))
        feats["tuple"] += bool(re.search(r"\(-?\d+, -?\d+", text))
        feats["bool"] += "True" in text or "False" in text
    # family programs (classic algorithms) may repeat their code with other inputs; composed ones never
    assert len(sources) >= 0.95 * 400
    assert len(entries) >= 8
    for name, n in feats.items():
        assert n >= 4, f"only {n} of 400 programs have {name}"


def test_generated_traces_come_from_the_real_tracer_and_are_kept_short():
    rows = datagen.generate(5, 40, jobs=1)
    assert len(rows) >= 30
    reasons = {r["end"]["reason"] for r in rows}
    assert reasons <= {"returned", "raised"} and "returned" in reasons
    for r in rows[:5]:
        assert 1 <= len(r["frames"]) <= datagen.MAX_FRAMES
        assert r["frames"][0]["event"] == "call"
    # the fork-based runner gives exactly what the tracer's own child process gives
    s = next(datagen.samples(5, 0, 1))
    plain = trace_source(s.source, s.entry, s.call, Limits(**datagen.LIMITS))
    fast = trace_source(s.source, s.entry, s.call, Limits(**datagen.LIMITS), runner=sandbox.run_forked)
    assert fast.to_json_dict()["frames"] == plain.to_json_dict()["frames"]
    assert fast.end.reason == plain.end.reason and fast.end.value == plain.end.value


def test_generation_does_not_depend_on_the_number_of_jobs():
    one = datagen.generate(9, 12, jobs=1, chunk=5)
    two = datagen.generate(9, 12, jobs=2, chunk=5)
    strip = lambda rows: [(r["id"], r["frames"], r["end"]["value"]) for r in rows]  # noqa: E731
    assert strip(one) == strip(two)


def test_the_style_of_real_code_changes_the_text_but_not_the_execution():

    changed = 0
    for i in range(12):
        plain, entry, calls = datagen.program(2, i, style=0)
        styled, entry2, calls2 = datagen.program(2, i, style=1)
        assert (entry, calls) == (entry2, calls2)
        changed += plain != styled
        a = trace_source(plain, entry, calls[0], Limits(**datagen.LIMITS), runner=sandbox.run_forked)
        b = trace_source(styled, entry, calls[0], Limits(**datagen.LIMITS), runner=sandbox.run_forked)
        assert [(f.event, f.locals, f.arg) for f in a.frames] == [(f.event, f.locals, f.arg) for f in b.frames]
        assert a.end.value == b.end.value
    assert changed >= 3


# -- style 2: exercise-style programs (neurodebug.training.tasks) -----------------------------------


def test_style_2_mixes_exercise_programs_into_style_1_and_leaves_the_rest_unchanged():
    from neurodebug.training import tasks as datagen_tasks

    tasks = 0
    for i in range(200):
        src, entry, calls, max_frames = datagen._program(6, i, style=2)
        if max_frames == datagen_tasks.TASK_MAX_FRAMES:
            tasks += 1
            tree = ast.parse(src)
            fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == entry)
            assert ast.get_docstring(fn), src  # a prose docstring, as user code has
            assert len(calls) == 3
        else:  # every other program is exactly the style 1 one
            assert (src, entry, calls) == datagen.program(6, i, style=1)
    assert 0.2 * 200 <= tasks <= 0.4 * 200
    assert datagen._program(6, 3, style=2) == datagen._program(6, 3, style=2)


def test_every_exercise_template_traces_within_its_limits_and_its_example_is_not_a_traced_input():
    import random

    from neurodebug.model.tokenizer import load_tokenizer

    from neurodebug.codec import Codec
    from neurodebug.constrain.flow import check
    from neurodebug.training import tasks as datagen_tasks

    codec = Codec(load_tokenizer(str(ROOT / "neurodebug" / "bundled" / "tokenizer.json")))
    longest = 0
    for t in datagen_tasks.TASKS:
        batch = []
        for i in range(6):
            rng = random.Random(f"t:{t.__name__}:{i}")
            src, entry, calls, example, description = t(rng)
            assert example not in calls or len(set(calls)) == 1, (t.__name__, example, calls)
            src = datagen_tasks.dress(rng, src, entry, example, description)
            compile(src, t.__name__, "exec")
            batch += [datagen.Sample(f"{t.__name__}-{i}-{j}", src, entry, c, datagen_tasks.TASK_MAX_FRAMES)
                      for j, c in enumerate(calls[:2])]
        traced = list(datagen.trace_samples(batch))
        assert len(traced) >= 0.75 * len(batch), t.__name__
        for s, tr in traced:
            longest = max(longest, len(tr.frames))
            assert tr.frames[0].event == "call" and tr.end.reason in ("returned", "raised")
            # the control-flow constraint allows every real frame of these programs too
            assert check(s.source, tr.frames) == [], s.id
            # and the codec reads back what it wrote
            ids, _ = codec.encode_trace(tr)
            frames, end = codec.parse(s.source, s.entry, ids[len(codec.prompt_ids(s.source, s.entry)):])
            assert [(f.event, f.line, f.locals, f.arg) for f in frames] == \
                   [(f.event, f.line, f.locals, f.arg) for f in tr.frames], s.id
    assert longest > datagen.MAX_FRAMES // 2


def test_the_docstring_example_shows_the_result_of_the_template_itself():
    import random

    from neurodebug.training import tasks as datagen_tasks

    rng = random.Random(1)
    src, entry, calls, example, description = datagen_tasks.t_merge(rng)
    ns: dict = {}
    exec(src, ns)
    doc = datagen_tasks.dress(random.Random(3), src, entry, example, description)
    assert f">>> {entry}({example})" in doc
    assert f"    {eval(f'{entry}({example})', ns)!r}" in doc
