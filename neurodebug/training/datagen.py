"""A seeded generator of small Python functions and inputs, traced for training the bundled model.

Two kinds of programs are mixed:

* *composed* functions: a typed random program generator (ints, strings, lists, dicts, tuples,
  sets, bools; assignments, loops, conditionals, early returns, try/except, comprehensions,
  helper calls), so the model sees many shapes of code rather than a few memorisable ones;
* *family* functions: small classic algorithms (recursion, counting, searching, string
  manipulation...) with randomised names, literals and inputs.

Everything is drawn from ``random.Random(f"{seed}:{index}")``, so program ``index`` of a seed
is the same on every machine and every number of jobs. Each program is run by the real tracer
(:func:`neurodebug.real.tracer.trace_source`); traces that are too long, or that did not end by
returning or raising out of the entry, are dropped. Set elements are ints only: a set of strings
prints in an order that depends on the process's hash seed.

Never put HumanEval or CruxEval code here: they are the evaluation sets.
"""

from __future__ import annotations

import ast
import json
import os
import random
import re
import sys
from dataclasses import dataclass
from typing import Callable, Iterator

from neurodebug.training import tasks
from neurodebug.training.literals import CHARS, WORDS, rand_int

# -- limits on what we keep -------------------------------------------------------------------

#: Traces with more frames than this are dropped (a tiny model learns short traces best).
MAX_FRAMES = 60
#: Reprs longer than this make a trace be dropped (keeps token counts small).
MAX_REPR = 60

ENTRY_NAMES = ["f", "f", "f", "func", "solve", "compute", "process", "run", "main_fn", "calc", "transform", "check"]
HELPER_NAMES = ["helper", "g", "step", "apply", "score", "combine", "is_ok", "fix", "update", "count_in", "shift", "pick"]


VAR_NAMES = {
    "int": ["n", "k", "m", "x", "y", "z", "a", "b", "c", "i", "j", "total", "count", "acc", "res", "val", "num",
            "idx", "best", "diff", "score", "step", "lo", "hi", "mid", "cnt", "p", "q", "r", "w", "limit", "size"],
    "str": ["s", "t", "u", "word", "text", "out", "res", "prefix", "name", "line", "chars", "buf", "tag", "msg",
            "key", "part", "label", "left", "right"],
    "bool": ["found", "ok", "flag", "done", "valid", "seen_it", "is_big", "neg", "hit", "good"],
    "list_int": ["xs", "ys", "nums", "items", "vals", "arr", "lst", "data", "out", "acc", "stack", "result", "evens",
                 "odds", "parts", "buf", "pos", "row", "seq"],
    "list_str": ["words", "names", "tokens", "parts", "keys", "letters", "ws", "strs", "chunks", "tags"],
    "dict": ["d", "counts", "freq", "table", "mapping", "memo", "index", "ages", "score_of", "hist"],
    "tuple": ["pair", "tup", "point", "t2", "coords", "span", "rng"],
    "set": ["seen", "uniq", "pool", "group", "marks", "visited"],
}
TYPES = list(VAR_NAMES)


# -- values -------------------------------------------------------------------------------------


def rand_str(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.55:
        return rng.choice(WORDS)
    if r < 0.85:
        return "".join(rng.choice(CHARS) for _ in range(rng.randint(0, 6)))
    if r < 0.95:
        return rng.choice(WORDS) + rng.choice([" ", "-", "_", ","]) + rng.choice(WORDS)
    return "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 3)))


def rand_value(rng: random.Random, typ: str):
    if typ == "int":
        return rand_int(rng)
    if typ == "str":
        return rand_str(rng)
    if typ == "bool":
        return rng.random() < 0.5
    if typ == "list_int":
        return [rand_int(rng) for _ in range(rng.choice([0, 1, 2, 3, 3, 4, 4, 5, 6]))]
    if typ == "list_str":
        return [rng.choice(WORDS) for _ in range(rng.choice([0, 1, 2, 3, 3, 4]))]
    if typ == "dict":
        return {rng.choice(WORDS): rand_int(rng) for _ in range(rng.choice([0, 1, 2, 3, 3]))}
    if typ == "tuple":
        return tuple(rand_int(rng) for _ in range(rng.choice([2, 2, 3])))
    if typ == "set":
        return {rng.randint(0, 9) for _ in range(rng.choice([0, 1, 2, 3, 4]))}
    raise ValueError(typ)


def lit(rng: random.Random, typ: str) -> str:
    v = rand_value(rng, typ)
    if typ == "set" and not v:
        return "set()"
    return repr(v)


# -- the composed-function generator -----------------------------------------------------------


class Composer:
    """Builds one function body statement by statement over an environment of typed variables."""

    def __init__(self, rng: random.Random, env: dict[str, str], max_stmts: int, helpers: list[tuple[str, list[str], str]]):
        self.rng = rng
        self.env = dict(env)  # name -> type
        self.lines: list[str] = []
        self.max_stmts = max_stmts
        self.helpers = helpers  # (name, param types, return type)
        self.loop_depth = 0
        self.loop_vars: set[str] = set()
        self.frozen: set[str] = set()  # collections being iterated over: never mutated in the loop

    def mutable(self, typ: str) -> list[str]:
        return [v for v in self.vars_of(typ) if v not in self.loop_vars and v not in self.frozen]

    # -- names and variables
    def vars_of(self, typ: str) -> list[str]:
        return [n for n, t in self.env.items() if t == typ]

    def pick(self, typ: str) -> str | None:
        vs = self.vars_of(typ)
        return self.rng.choice(vs) if vs else None

    def new_name(self, typ: str) -> str:
        pool = [n for n in VAR_NAMES[typ] if n not in self.env]
        if not pool:
            pool = [f"{VAR_NAMES[typ][0]}{i}" for i in range(2, 9) if f"{VAR_NAMES[typ][0]}{i}" not in self.env]
        return self.rng.choice(pool)

    # -- expressions
    def atom(self, typ: str) -> str:
        v = self.pick(typ)
        if v is not None and self.rng.random() < 0.75:
            return v
        return lit(self.rng, typ)

    def int_expr(self, depth: int = 0) -> str:
        r = self.rng
        opts = [lambda: self.atom("int")] * 3
        if depth < 2:
            opts += [
                lambda: f"{self.int_expr(depth + 1)} {r.choice(['+', '-', '*', '+', '-'])} {self.int_expr(depth + 1)}",
                lambda: f"{self.atom('int')} {r.choice(['//', '%'])} {r.randint(2, 5)}",
            ]
        for t in ("str", "list_int", "list_str", "dict", "set", "tuple"):
            if self.vars_of(t):
                opts.append(lambda t=t: f"len({self.pick(t)})")
        if self.vars_of("list_int"):
            opts += [
                lambda: f"sum({self.pick('list_int')})",
                lambda: f"{self.pick('list_int')}[{r.choice(['0', '-1', '1', self.atom('int')])}]",
                lambda: f"{r.choice(['max', 'min'])}({self.pick('list_int')})",
                lambda: f"{self.pick('list_int')}.count({self.atom('int')})",
            ]
        if self.vars_of("str"):
            opts += [
                lambda: f"{self.pick('str')}.count({r.choice(CHARS)!r})",
                lambda: f"{self.pick('str')}.find({r.choice(CHARS)!r})",
            ]
        if self.vars_of("dict"):
            opts += [lambda: f"{self.pick('dict')}.get({self.str_key()}, {r.randint(0, 3)})"]
        if self.vars_of("tuple"):
            opts += [lambda: f"{self.pick('tuple')}[{r.randint(0, 1)}]"]
        if self.vars_of("bool") and depth == 0:
            opts += [lambda: f"{self.atom('int')} if {self.pick('bool')} else {self.atom('int')}"]
        if depth == 0:
            opts += [lambda: f"abs({self.atom('int')})"]
        return r.choice(opts)()

    def short_str(self, target: str) -> str:
        # never `s += s ...`: strings that double in a loop make traces useless
        others = [v for v in self.vars_of("str") if v != target]
        r = self.rng
        if others and r.random() < 0.4:
            o = r.choice(others)
            return r.choice([o, f"{o}[0]", f"{o}[-1]", f"{o}.upper()"])
        if self.vars_of("int") and r.random() < 0.3:
            return f"str({self.pick('int')})"
        return repr(r.choice([r.choice(CHARS), r.choice(WORDS)[:3], "-", "!"]))

    def str_key(self) -> str:
        v = self.pick("str")
        if v is not None and self.rng.random() < 0.5:
            return v
        return repr(self.rng.choice(WORDS))

    def str_expr(self, depth: int = 0) -> str:
        r = self.rng
        opts = [lambda: self.atom("str")] * 2
        if self.vars_of("str"):
            s = lambda: self.pick("str")  # noqa: E731
            opts += [
                lambda: f"{s()}[{r.choice(['::-1', '1:', ':2', '1:3', ':-1', '::2'])}]",
                lambda: f"{s()}.{r.choice(['upper', 'lower', 'strip', 'capitalize', 'title'])}()",
                lambda: f"{s()}.replace({r.choice(CHARS)!r}, {r.choice(['', 'z', '-', 'ab'])!r})",
                lambda: f"{s()}[{r.choice(['0', '-1', self.atom('int')])}]",
                lambda: f"{s()} + {self.atom('str')}",
            ]
            if depth < 1:
                opts.append(lambda: f"{s()} * {r.randint(0, 3)}")
        if self.vars_of("int"):
            opts += [lambda: f"str({self.pick('int')})"]
        if self.vars_of("list_str"):
            opts += [lambda: f"{r.choice(['', ' ', '-', ','])!r}.join({self.pick('list_str')})"]
        if self.vars_of("list_int"):
            opts += [lambda: f"{r.choice(['', ',', ' '])!r}.join(str(v) for v in {self.pick('list_int')})"]
        return r.choice(opts)()

    def compare_ints(self) -> str:
        a = self.atom("int")
        b = self.atom("int")
        if a == b:
            b = str(rand_int(self.rng))
        return f"{a} {self.rng.choice(['>', '<', '==', '!=', '>=', '<='])} {b}"

    def bool_expr(self) -> str:
        r = self.rng
        opts = [
            lambda: self.compare_ints(),
            lambda: f"{self.atom('int')} % 2 == {r.randint(0, 1)}",
        ]
        if self.vars_of("bool"):
            opts += [lambda: self.pick("bool"), lambda: f"not {self.pick('bool')}"]
        if self.vars_of("str"):
            opts += [
                lambda: f"{r.choice(CHARS)!r} in {self.pick('str')}",
                lambda: f"{self.pick('str')}.{r.choice(['startswith', 'endswith'])}({r.choice(CHARS)!r})",
                lambda: f"{self.pick('str')}.{r.choice(['isdigit', 'isalpha', 'isupper', 'islower'])}()",
                lambda: f"len({self.pick('str')}) > {r.randint(0, 5)}",
                lambda: f"{self.pick('str')} == {self.atom('str')}",
            ]
        if self.vars_of("list_int"):
            opts += [lambda: f"{self.atom('int')} in {self.pick('list_int')}", lambda: f"not {self.pick('list_int')}"]
        if self.vars_of("dict"):
            opts += [lambda: f"{self.str_key()} in {self.pick('dict')}"]
        if self.vars_of("set"):
            opts += [lambda: f"{self.atom('int')} in {self.pick('set')}"]
        e = r.choice(opts)()
        if r.random() < 0.1:
            e = f"{e} {r.choice(['and', 'or'])} {r.choice(opts)()}"
        return e

    def list_int_expr(self) -> str:
        r = self.rng
        opts = [lambda: self.atom("list_int"), lambda: f"list(range({r.randint(0, 6)}))"]
        if self.vars_of("list_int"):
            xs = lambda: self.pick("list_int")  # noqa: E731
            v = r.choice(["x", "v", "e", "n", "item"])
            opts += [
                lambda: f"[{v} {r.choice(['*', '+', '-', '%', '//'])} {r.randint(1, 4)} for {v} in {xs()}]",
                lambda: f"[{v} for {v} in {xs()} if {v} {r.choice(['>', '<', '!=', '%'])} {r.randint(0, 5)}]",
                lambda: f"sorted({xs()}{r.choice(['', ', reverse=True'])})",
                lambda: f"{xs()}[{r.choice(['1:', ':2', '::-1', '1:3', ':-1', '::2'])}]",
                lambda: f"{xs()} + [{self.atom('int')}]",
            ]
        if self.vars_of("str"):
            opts += [lambda: f"[ord(ch) - 96 for ch in {self.pick('str')}]"]
        if self.vars_of("list_str"):
            opts += [lambda: f"[len(w) for w in {self.pick('list_str')}]"]
        if self.vars_of("dict"):
            opts += [lambda: f"list({self.pick('dict')}.values())"]
        if self.vars_of("set"):
            opts += [lambda: f"sorted({self.pick('set')})"]
        return r.choice(opts)()

    def list_str_expr(self) -> str:
        r = self.rng
        opts = [lambda: self.atom("list_str")]
        if self.vars_of("str"):
            opts += [lambda: f"list({self.pick('str')})", lambda: f"{self.pick('str')}.split({r.choice(['', repr(' '), repr(','), repr('a')])})"]
        if self.vars_of("list_str"):
            opts += [
                lambda: f"[w.{r.choice(['upper', 'lower', 'strip'])}() for w in {self.pick('list_str')}]",
                lambda: f"sorted({self.pick('list_str')})",
                lambda: f"[w for w in {self.pick('list_str')} if len(w) > {r.randint(1, 4)}]",
            ]
        if self.vars_of("dict"):
            opts += [lambda: f"list({self.pick('dict')})"]
        return r.choice(opts)()

    def dict_expr(self) -> str:
        r = self.rng
        opts = [lambda: lit(r, "dict"), lambda: "{}"]
        if self.vars_of("list_str"):
            opts += [lambda: f"{{w: len(w) for w in {self.pick('list_str')}}}"]
            if self.vars_of("list_int"):
                opts += [lambda: f"dict(zip({self.pick('list_str')}, {self.pick('list_int')}))"]
        if self.vars_of("str"):
            opts += [lambda: f"{{ch: {self.pick('str')}.count(ch) for ch in {self.pick('str')}}}"]
        if self.vars_of("list_int"):
            opts += [lambda: f"{{str(v): v * {r.randint(1, 3)} for v in {self.pick('list_int')}}}"]
        return r.choice(opts)()

    def tuple_expr(self) -> str:
        r = self.rng
        opts = [lambda: lit(r, "tuple"), lambda: f"({self.atom('int')}, {self.atom('int')})"]
        if self.vars_of("list_int"):
            opts += [lambda: f"tuple({self.pick('list_int')}[:{r.randint(2, 3)}])"]
        return r.choice(opts)()

    def set_expr(self) -> str:
        r = self.rng
        opts = [lambda: lit(r, "set"), lambda: "set()"]
        if self.vars_of("list_int"):
            opts += [lambda: f"set({self.pick('list_int')})", lambda: f"{{v % {r.randint(2, 5)} for v in {self.pick('list_int')}}}"]
        if self.vars_of("set"):
            opts += [lambda: f"{self.pick('set')} {r.choice(['|', '&', '-'])} {lit(r, 'set')}"]
        return r.choice(opts)()

    def expr(self, typ: str) -> str:
        return {
            "int": self.int_expr, "str": self.str_expr, "bool": self.bool_expr, "list_int": self.list_int_expr,
            "list_str": self.list_str_expr, "dict": self.dict_expr, "tuple": self.tuple_expr, "set": self.set_expr,
        }[typ]()

    # -- statements
    def emit(self, indent: int, text: str) -> None:
        self.lines.append("    " * indent + text)

    def stmt_assign(self, ind: int) -> None:
        r = self.rng
        typ = r.choice(["int", "int", "int", "str", "str", "bool", "list_int", "list_int", "list_str", "dict", "tuple", "set"])
        existing = self.mutable(typ)
        e = self.expr(typ)
        if existing and r.random() < 0.35:
            name = r.choice(existing)
        else:
            name = self.new_name(typ)
        self.emit(ind, f"{name} = {e}")
        self.env[name] = typ

    def stmt_update(self, ind: int) -> bool:
        r = self.rng
        opts = []
        ints = self.mutable("int")
        if ints:
            opts.append(lambda: self.emit(ind, f"{r.choice(ints)} {r.choice(['+=', '-=', '+=', '+='])} {self.int_expr(1)}"))
            opts.append(lambda: self.emit(ind, f"{r.choice(ints)} {r.choice(['*=', '//=', '%='])} {r.randint(2, 4)}"))
        strs = self.mutable("str")
        if strs:
            opts.append(lambda: (lambda v: self.emit(ind, f"{v} += {self.short_str(v)}"))(r.choice(strs)))
        lists = self.mutable("list_int")
        if lists:
            opts += [
                lambda: self.emit(ind, f"{r.choice(lists)}.append({self.int_expr(1)})"),
                lambda: self.emit(ind, f"{r.choice(lists)}.{r.choice(['pop()', 'sort()', 'reverse()', 'pop(0)'])}"),
                lambda: self.emit(ind, f"{r.choice(lists)}.insert(0, {self.atom('int')})"),
                lambda: self.emit(ind, f"{r.choice(lists)}[{r.choice(['0', '-1', self.atom('int')])}] = {self.int_expr(1)}"),
            ]
        if self.mutable("list_str"):
            opts += [lambda: self.emit(ind, f"{r.choice(self.mutable('list_str'))}.append({self.str_expr(1)})")]
        if self.mutable("dict"):
            d = lambda: r.choice(self.mutable("dict"))  # noqa: E731
            opts += [
                lambda: self.emit(ind, f"{d()}[{self.str_key()}] = {self.int_expr(1)}"),
                lambda: (lambda dn, k: self.emit(ind, f"{dn}[{k}] = {dn}.get({k}, 0) + {r.randint(1, 3)}"))(d(), self.str_key()),
            ]
        if self.mutable("set"):
            opts += [lambda: self.emit(ind, f"{r.choice(self.mutable('set'))}.{r.choice(['add', 'discard'])}({self.atom('int')})")]
        if not opts:
            return False
        r.choice(opts)()
        return True

    def block(self, ind: int, n: int) -> None:
        for _ in range(n):
            self.statement(ind)

    def stmt_if(self, ind: int) -> None:
        r = self.rng
        self.emit(ind, f"if {self.bool_expr()}:")
        self.block_scoped(ind + 1, r.randint(1, 2), allow_return=True)
        if r.random() < 0.3:
            self.emit(ind, f"elif {self.bool_expr()}:")
            self.block_scoped(ind + 1, 1, allow_return=True)
        if r.random() < 0.5:
            self.emit(ind, "else:")
            self.block_scoped(ind + 1, r.randint(1, 2), allow_return=False)

    def block_scoped(self, ind: int, n: int, allow_return: bool) -> None:
        # Variables first bound inside a branch may be unbound later: forget them after the block.
        before = dict(self.env)
        for _ in range(n):
            if allow_return and self.rng.random() < 0.2:
                self.emit(ind, f"return {self.ret_expr()}")
                break
            if self.rng.random() < 0.6 and self.stmt_update(ind):
                continue
            self.statement(ind, simple=True)
        self.env = before

    def stmt_for(self, ind: int) -> None:
        r = self.rng
        if self.loop_depth >= 2:
            return self.stmt_update(ind) or self.stmt_assign(ind)
        iters = []
        if self.vars_of("list_int"):
            iters += [("list_int", lambda: (self.pick("list_int"), "int", r.choice(["x", "v", "n", "item", "num", "e"])))]
        if self.vars_of("str"):
            iters += [("str", lambda: (self.pick("str"), "str", r.choice(["ch", "c", "letter", "char"])))]
        if self.vars_of("list_str"):
            iters += [("list_str", lambda: (self.pick("list_str"), "str", r.choice(["w", "word", "name", "tok"])))]
        iters += [("range", lambda: (f"range({r.choice([str(r.randint(1, 5)), *(f'len({v})' for v in self.vars_of('list_int')[:1])])})", "int", r.choice(["i", "j", "k", "idx"])))]
        if self.vars_of("dict"):
            iters += [("dict", lambda: (self.pick("dict"), "str", r.choice(["key", "k", "name"])))]
        _, mk = r.choice(iters)
        it, vt, var = mk()
        if (var in self.env and self.env[var] != vt) or var in self.loop_vars or var in it:
            var = var + "_"
        if r.random() < 0.15 and vt == "int" and not it.startswith("range"):
            self.emit(ind, f"for i_, {var} in enumerate({it}):")
            self.env["i_"] = "int"
            self.loop_vars.add("i_")
        else:
            self.emit(ind, f"for {var} in {it}:")
        self.env[var] = vt
        self.loop_vars.add(var)
        self.loop_depth += 1
        before = {k: v for k, v in self.env.items() if k != var and k != "i_"}
        frozen = set(self.frozen)
        self.frozen |= {w for w in self.env if w in it}
        self.loop_body(ind + 1, var, vt)
        self.frozen = frozen
        self.env = {**before, var: vt}  # names first bound in the body may never be bound
        self.loop_depth -= 1
        self.loop_vars.discard(var)
        self.loop_vars.discard("i_")

    def loop_body(self, ind: int, var: str, vt: str) -> None:
        r = self.rng
        n = r.randint(1, 3)
        # make the loop variable matter: an accumulation that uses it
        acc_int = self.mutable("int")
        acc_list = self.mutable("list_int") if vt == "int" else self.mutable("list_str")
        acc_str = self.mutable("str")
        uses = []
        if vt == "int":
            if acc_int:
                uses.append(lambda ind=ind: self.emit(ind, f"{r.choice(acc_int)} {r.choice(['+=', '-=', '+='])} {var}{r.choice(['', ' * 2', ' % 3', ' + 1'])}"))
            if acc_list:
                uses.append(lambda ind=ind: self.emit(ind, f"{r.choice(acc_list)}.append({var}{r.choice(['', ' * ' + str(r.randint(2, 3)), ' - 1'])})"))
        else:
            if acc_str:
                uses.append(lambda ind=ind: (lambda a: self.emit(ind, f"{a} {r.choice(['= ' + var + ' + ' + a, '+= ' + var])}"))(r.choice(acc_str)))
            if acc_int:
                uses.append(lambda ind=ind: self.emit(ind, f"{r.choice(acc_int)} += len({var})"))
            if self.mutable("dict"):
                uses.append(lambda ind=ind: (lambda dn: self.emit(ind, f"{dn}[{var}] = {dn}.get({var}, 0) + 1"))(r.choice(self.mutable("dict"))))
        # conditional accumulation
        if uses and r.random() < 0.45:
            cond = f"{var} {r.choice(['>', '<', '==', '!='])} {rand_int(r)}" if vt == "int" else r.choice(
                [f"{var} in {r.choice(['aeiou', 'abc', 'xyz'])!r}", f"{var}.{r.choice(['isalpha', 'isdigit', 'isupper'])}()", f"len({var}) > {r.randint(1, 3)}", f"{var} != {r.choice(CHARS)!r}"])
            self.emit(ind, f"if {cond}:")
            r.choice(uses)(ind + 1)
            if r.random() < 0.25:
                self.emit(ind + 1, "break" if r.random() < 0.5 else f"return {self.ret_expr()}")
            elif r.random() < 0.3:
                self.emit(ind, "else:")
                if r.random() < 0.3:
                    self.emit(ind + 1, "continue")
                else:
                    r.choice(uses)(ind + 1)
            n -= 1
        elif uses:
            r.choice(uses)()
            n -= 1
        for _ in range(max(0, n)):
            if r.random() < 0.25 and self.loop_depth < 2:
                self.stmt_for(ind)
            elif not self.stmt_update(ind):
                self.stmt_assign(ind)

    def stmt_while(self, ind: int) -> None:
        r = self.rng
        if self.loop_depth >= 1:
            return self.stmt_update(ind) or self.stmt_assign(ind)
        kind = r.random()
        self.loop_depth += 1
        if kind < 0.5:
            i = self.new_name("int")
            bound = r.choice([str(r.randint(1, 5)), *(f"len({v})" for v in self.vars_of("list_int")[:1] + self.vars_of("str")[:1])])
            self.emit(ind, f"{i} = 0")
            self.env[i] = "int"
            self.emit(ind, f"while {i} < {bound}:")
            self.loop_vars.add(i)
            frozen = set(self.frozen)
            self.frozen |= {w for w in self.env if w in bound}
            self.block(ind + 1, r.randint(1, 2))
            self.frozen = frozen
            self.emit(ind + 1, f"{i} += {r.choice([1, 1, 1, 2])}")
            self.loop_vars.discard(i)
        elif kind < 0.8:
            n = self.new_name("int")
            self.emit(ind, f"{n} = {r.choice([str(r.randint(5, 999)), *(f'abs({v})' for v in self.vars_of('int')[:2])])}")
            self.env[n] = "int"
            acc = self.new_name("int")
            if acc == n:
                acc = acc + "2"
            self.emit(ind, f"{acc} = 0")
            self.env[acc] = "int"
            self.emit(ind, f"while {n} > 0:")
            self.emit(ind + 1, f"{acc} {r.choice(['+=', '+=', '='])} {n} % {r.choice([10, 10, 2, 3])}" + (f" + {acc} * 10" if r.random() < 0.2 else ""))
            self.emit(ind + 1, f"{n} //= {r.choice([10, 10, 2, 3])}")
        else:
            xs = self.pick("list_int")
            if xs is None:
                self.loop_depth -= 1
                return self.stmt_assign(ind)
            stack = self.new_name("list_int")
            self.emit(ind, f"{stack} = list({xs})")
            self.env[stack] = "list_int"
            tot = self.new_name("int")
            self.emit(ind, f"{tot} = 0")
            self.env[tot] = "int"
            self.emit(ind, f"while {stack}:")
            self.emit(ind + 1, f"{tot} += {stack}.pop()" + r.choice(["", " * 2", " % 5"]))
            if r.random() < 0.4:
                self.emit(ind + 1, f"if {tot} > {r.randint(5, 30)}:")
                self.emit(ind + 2, "break")
        self.loop_depth -= 1

    def stmt_try(self, ind: int) -> None:
        r = self.rng
        self.emit(ind, "try:")
        risky = []
        name = self.new_name("int")
        if self.vars_of("str"):
            risky.append((f"{name} = int({self.pick('str')})", "ValueError"))
        if self.vars_of("list_int"):
            risky.append((f"{name} = {self.pick('list_int')}[{self.atom('int')}]", "IndexError"))
        if self.vars_of("dict"):
            risky.append((f"{name} = {self.pick('dict')}[{self.str_key()}]", "KeyError"))
        risky.append((f"{name} = {self.atom('int')} // {self.atom('int')}", "ZeroDivisionError"))
        line, exc = r.choice(risky)
        self.emit(ind + 1, line)
        exc_s = exc if r.random() < 0.7 else r.choice(["Exception", f"({exc}, TypeError)"])
        if r.random() < 0.3:
            self.emit(ind, f"except {exc_s} as e:")
            self.emit(ind + 1, f"{name} = {r.choice(['-1', '0', 'len(str(e))'])}")
        else:
            self.emit(ind, f"except {exc_s}:")
            self.emit(ind + 1, f"{name} = {r.choice(['-1', '0', str(r.randint(1, 9))])}")
        self.env[name] = "int"

    def stmt_raise(self, ind: int) -> None:
        r = self.rng
        exc = r.choice(["ValueError", "ValueError", "TypeError", "RuntimeError", "KeyError", "IndexError"])
        msg = r.choice(["'bad input'", "'negative'", "'empty'", "'too big'", "'not found'", "'x'"])
        self.emit(ind, f"if {self.bool_expr()}:")
        self.emit(ind + 1, f"raise {exc}({msg})")

    def stmt_call(self, ind: int) -> None:
        if not self.helpers:
            return self.stmt_assign(ind)
        name, ptypes, rtype = self.rng.choice(self.helpers)
        args = ", ".join(self.atom(t) if self.rng.random() < 0.6 else self.expr(t) if t in ("int", "str") else self.atom(t) for t in ptypes)
        var = self.new_name(rtype)
        self.emit(ind, f"{var} = {name}({args})")
        self.env[var] = rtype

    def statement(self, ind: int, simple: bool = False) -> None:
        r = self.rng
        x = r.random()
        if simple or x < 0.3:
            if r.random() < 0.5 and self.stmt_update(ind):
                return
            return self.stmt_assign(ind)
        if x < 0.5:
            return self.stmt_for(ind)
        if x < 0.62:
            return self.stmt_if(ind)
        if x < 0.7:
            return self.stmt_while(ind)
        if x < 0.78:
            return self.stmt_try(ind)
        if x < 0.83:
            return self.stmt_raise(ind)
        if x < 0.93 and self.helpers:
            return self.stmt_call(ind)
        return self.stmt_assign(ind)

    def ret_expr(self, typ: str | None = None) -> str:
        r = self.rng
        if typ is not None:
            return self.atom(typ) if r.random() < 0.7 else self.expr(typ)
        vs = [v for v in self.env if v not in self.loop_vars]
        if vs and r.random() < 0.75:
            if r.random() < 0.15 and len(vs) > 1:
                return f"{r.choice(vs)}, {r.choice(vs)}"
            return r.choice(vs)
        return self.expr(r.choice(["int", "str", "bool", "list_int"]))


def _signature(rng: random.Random, nparams: int) -> list[tuple[str, str]]:
    params: list[tuple[str, str]] = []
    used: set[str] = set()
    weights = ["int", "int", "int", "str", "str", "str", "list_int", "list_int", "list_int", "list_str", "dict", "bool", "tuple", "set"]
    for _ in range(nparams):
        t = rng.choice(weights)
        pool = [n for n in VAR_NAMES[t] if n not in used]
        name = rng.choice(pool)
        used.add(name)
        params.append((name, t))
    return params


def composed(rng: random.Random) -> tuple[str, str, list[str]]:
    """A random composed program: (source, entry name, [argument expressions])."""
    helpers: list[tuple[str, list[str], str]] = []
    chunks: list[str] = []
    if rng.random() < 0.35:
        hname = rng.choice(HELPER_NAMES)
        hparams = _signature(rng, rng.randint(1, 2))
        rtype = rng.choice(["int", "int", "str", "bool", "list_int"])
        c = Composer(rng, dict(hparams), 3, [])
        for _ in range(rng.randint(1, 3)):
            c.statement(1, simple=rng.random() < 0.5)
        c.emit(1, f"return {c.ret_expr(rtype)}")
        chunks.append(f"def {hname}({', '.join(p for p, _ in hparams)}):\n" + "\n".join(c.lines))
        helpers.append((hname, [t for _, t in hparams], rtype))
    entry = rng.choice(ENTRY_NAMES)
    params = _signature(rng, rng.choice([1, 1, 2, 2, 2, 3]))
    c = Composer(rng, dict(params), 8, helpers)
    for _ in range(rng.randint(2, 6)):
        c.statement(1)
    c.emit(1, f"return {c.ret_expr()}")
    chunks.append(f"def {entry}({', '.join(p for p, _ in params)}):\n" + "\n".join(c.lines))
    source = "\n\n".join(chunks) + "\n"
    calls = [", ".join(lit(rng, t) for _, t in params) for _ in range(3)]
    return source, entry, calls


# -- families: classic small algorithms with randomised surface -----------------------------


def _names(rng: random.Random, *pools: str) -> list[str]:
    out: list[str] = []
    for p in pools:
        choices = [n for n in VAR_NAMES[p] if n not in out]
        out.append(rng.choice(choices))
    return out


def fam_recursion(rng: random.Random):
    fn = rng.choice(["rec", "fact", "walk", "go", "f", "count_down", "total", "solve", "digits", "power"])
    n = rng.choice(["n", "k", "x", "m"])
    kind = rng.randrange(7)
    base = rng.choice([0, 1])
    if kind == 0:
        body = f"def {fn}({n}):\n    if {n} <= {base}:\n        return 1\n    return {n} * {fn}({n} - 1)\n"
        args = [str(rng.randint(0, 5)) for _ in range(3)]
    elif kind == 1:
        body = f"def {fn}({n}):\n    if {n} < 10:\n        return {n}\n    return {n} % 10 + {fn}({n} // 10)\n"
        args = [str(rng.randint(0, 9999)) for _ in range(3)]
    elif kind == 2:
        s = rng.choice(["s", "text", "word"])
        body = f"def {fn}({s}):\n    if len({s}) <= 1:\n        return {s}\n    return {fn}({s}[1:]) + {s}[0]\n"
        args = [repr(rng.choice(WORDS)[:5]) for _ in range(3)]
    elif kind == 3:
        a, b = rng.choice([("a", "b"), ("x", "y"), ("m", "n")])
        body = f"def {fn}({a}, {b}):\n    if {b} == 0:\n        return {a}\n    return {fn}({b}, {a} % {b})\n"
        args = [f"{rng.randint(1, 60)}, {rng.randint(0, 40)}" for _ in range(3)]
    elif kind == 4:
        xs = rng.choice(["xs", "nums", "lst"])
        body = f"def {fn}({xs}):\n    if not {xs}:\n        return 0\n    return {xs}[0] + {fn}({xs}[1:])\n"
        args = [repr(rand_value(rng, "list_int")[:4]) for _ in range(3)]
    elif kind == 5:
        b, e = rng.choice([("base", "exp"), ("b", "e"), ("x", "n")])
        body = f"def {fn}({b}, {e}):\n    if {e} == 0:\n        return 1\n    half = {fn}({b}, {e} // 2)\n    if {e} % 2 == 0:\n        return half * half\n    return half * half * {b}\n"
        args = [f"{rng.randint(-3, 5)}, {rng.randint(0, 6)}" for _ in range(3)]
    else:
        body = f"def {fn}({n}):\n    if {n} < 2:\n        return {n}\n    return {fn}({n} - 1) + {fn}({n} - 2)\n"
        args = [str(rng.randint(0, 4)) for _ in range(3)]
    if rng.random() < 0.4:
        entry = rng.choice([e for e in ENTRY_NAMES if e != fn])
        p = rng.choice(["v", "arg", "inp", "data"])
        nargs = body.split("(", 1)[1].split(")", 1)[0].count(",") + 1
        plist = ", ".join(f"{p}{i}" for i in range(nargs)) if nargs > 1 else p
        post = rng.choice(["r", "r + 1", "[r]", "str(r)", "r * 2"])
        body += f"\n\ndef {entry}({plist}):\n    r = {fn}({plist})\n    return {post}\n"
        return body, entry, args
    return body, fn, args


def fam_strings(rng: random.Random):
    fn = rng.choice(ENTRY_NAMES)
    s = rng.choice(["s", "text", "word", "line"])
    kind = rng.randrange(8)
    vow = rng.choice(["'aeiou'", "'aeiouy'", "'xyz'", "'abc'"])
    if kind == 0:
        c = rng.choice(["count", "n", "total"])
        body = f"def {fn}({s}):\n    {c} = 0\n    for ch in {s}:\n        if ch in {vow}:\n            {c} += 1\n    return {c}\n"
    elif kind == 1:
        body = f"def {fn}({s}):\n    {s} = {s}.lower()\n    return {s} == {s}[::-1]\n"
    elif kind == 2:
        k = rng.randint(1, 5)
        o = rng.choice(["out", "res", "buf"])
        body = (f"def {fn}({s}):\n    {o} = ''\n    for ch in {s}:\n        if ch.isalpha():\n"
                f"            {o} += chr((ord(ch) - 97 + {k}) % 26 + 97)\n        else:\n            {o} += ch\n    return {o}\n")
    elif kind == 3:
        d = rng.choice(["counts", "freq", "d"])
        body = f"def {fn}({s}):\n    {d} = {{}}\n    for ch in {s}:\n        {d}[ch] = {d}.get(ch, 0) + 1\n    return {d}\n"
    elif kind == 4:
        w = rng.choice(["words", "parts", "tokens"])
        body = f"def {fn}({s}):\n    {w} = {s}.split()\n    return ' '.join(w[::-1] for w in {w})\n" if rng.random() < 0.5 else \
            f"def {fn}({s}):\n    {w} = {s}.split({rng.choice([repr(' '), repr(',')])})\n    {w}.reverse()\n    return {w}\n"
    elif kind == 5:
        o = rng.choice(["out", "res"])
        body = (f"def {fn}({s}):\n    {o} = []\n    for i, ch in enumerate({s}):\n        if i % 2 == 0:\n"
                f"            {o}.append(ch.upper())\n        else:\n            {o}.append(ch)\n    return ''.join({o})\n")
    elif kind == 6:
        ch = rng.choice(CHARS)
        body = f"def {fn}({s}):\n    i = {s}.find({ch!r})\n    if i == -1:\n        return None\n    return {s}[:i], {s}[i + 1:]\n"
    else:
        body = (f"def {fn}({s}):\n    best = ''\n    cur = ''\n    for ch in {s}:\n        if cur and ch <= cur[-1]:\n"
                f"            cur = ''\n        cur += ch\n        if len(cur) > len(best):\n            best = cur\n    return best\n")
    args = [repr(rand_str(rng)) for _ in range(3)]
    return body, fn, args


def fam_lists(rng: random.Random):
    fn = rng.choice(ENTRY_NAMES)
    xs = rng.choice(["xs", "nums", "arr", "items", "lst"])
    kind = rng.randrange(9)
    t = rng.randint(0, 9)
    extra = []
    if kind == 0:
        body = f"def {fn}({xs}):\n    best = {xs}[0]\n    for x in {xs}[1:]:\n        if x > best:\n            best = x\n    return best\n"
    elif kind == 1:
        body = f"def {fn}({xs}, target):\n    for i, x in enumerate({xs}):\n        if x == target:\n            return i\n    return -1\n"
        extra = [None]
    elif kind == 2:
        body = f"def {fn}({xs}):\n    seen = set()\n    out = []\n    for x in {xs}:\n        if x not in seen:\n            seen.add(x)\n            out.append(x)\n    return out\n"
    elif kind == 3:
        body = (f"def {fn}({xs}):\n    {xs} = list({xs})\n    for i in range(len({xs})):\n        for j in range(len({xs}) - 1 - i):\n"
                f"            if {xs}[j] > {xs}[j + 1]:\n                {xs}[j], {xs}[j + 1] = {xs}[j + 1], {xs}[j]\n    return {xs}\n")
    elif kind == 4:
        body = f"def {fn}({xs}):\n    total = 0\n    out = []\n    for x in {xs}:\n        total += x\n        out.append(total)\n    return out\n"
    elif kind == 5:
        body = f"def {fn}({xs}, target):\n    seen = {{}}\n    for i, x in enumerate({xs}):\n        if target - x in seen:\n            return (seen[target - x], i)\n        seen[x] = i\n    return None\n"
        extra = [None]
    elif kind == 6:
        body = f"def {fn}({xs}):\n    evens = [x for x in {xs} if x % 2 == 0]\n    odds = [x for x in {xs} if x % 2]\n    return evens + odds\n"
    elif kind == 7:
        body = (f"def {fn}({xs}, target):\n    lo, hi = 0, len({xs}) - 1\n    while lo <= hi:\n        mid = (lo + hi) // 2\n"
                f"        if {xs}[mid] == target:\n            return mid\n        if {xs}[mid] < target:\n            lo = mid + 1\n"
                f"        else:\n            hi = mid - 1\n    return -1\n")
        args = []
        for _ in range(3):
            v = sorted(rand_value(rng, "list_int"))
            args.append(f"{v!r}, {rng.choice(v) if v and rng.random() < 0.6 else rand_int(rng)}")
        return body, fn, args
    else:
        k = rng.randint(2, 3)
        body = f"def {fn}({xs}):\n    out = []\n    for i in range(0, len({xs}), {k}):\n        out.append(sum({xs}[i:i + {k}]))\n    return out\n"
    args = []
    for _ in range(3):
        v = rand_value(rng, "list_int")
        args.append(repr(v) + "".join(f", {rng.choice(v) if v and rng.random() < 0.6 else t}" for _ in extra))
    return body, fn, args


def fam_dicts(rng: random.Random):
    fn = rng.choice(ENTRY_NAMES)
    kind = rng.randrange(5)
    if kind == 0:
        body = "def {fn}(words):\n    groups = {{}}\n    for w in words:\n        k = w[0]\n        if k not in groups:\n            groups[k] = []\n        groups[k].append(w)\n    return groups\n"
        args = [repr(rand_value(rng, "list_str")) for _ in range(3)]
    elif kind == 1:
        body = "def {fn}(d):\n    best = None\n    for k, v in d.items():\n        if best is None or v > d[best]:\n            best = k\n    return best\n"
        args = [repr(rand_value(rng, "dict")) for _ in range(3)]
    elif kind == 2:
        body = "def {fn}(d, key):\n    try:\n        return d[key] * 2\n    except KeyError:\n        return -1\n"
        args = []
        for _ in range(3):
            d = rand_value(rng, "dict")
            args.append(f"{d!r}, {rng.choice(list(d)) if d and rng.random() < 0.5 else rng.choice(WORDS)!r}")
    elif kind == 3:
        body = "def {fn}(d):\n    inv = {{}}\n    for k, v in d.items():\n        inv[v] = k\n    return inv\n"
        args = [repr(rand_value(rng, "dict")) for _ in range(3)]
    else:
        body = "def {fn}(a, b):\n    out = dict(a)\n    for k in b:\n        out[k] = out.get(k, 0) + b[k]\n    return out\n"
        args = [f"{rand_value(rng, 'dict')!r}, {rand_value(rng, 'dict')!r}" for _ in range(3)]
    return body.format(fn=fn), fn, args


def fam_exceptions(rng: random.Random):
    fn = rng.choice(ENTRY_NAMES)
    h = rng.choice(HELPER_NAMES)
    kind = rng.randrange(4)
    if kind == 0:
        body = (f"def {h}(x):\n    if x < 0:\n        raise ValueError('negative')\n    return x * 2\n\n"
                f"def {fn}(xs):\n    out = []\n    for x in xs:\n        try:\n            out.append({h}(x))\n        except ValueError:\n            out.append(0)\n    return out\n")
        args = [repr([rng.randint(-3, 5) for _ in range(rng.randint(1, 4))]) for _ in range(3)]
    elif kind == 1:
        body = f"def {fn}(s):\n    total = 0\n    for part in s.split(','):\n        total += int(part)\n    return total\n"
        args = [repr(",".join(rng.choice(["1", "2", "10", "x", "7", "", "3"]) for _ in range(rng.randint(1, 4)))) for _ in range(3)]
    elif kind == 2:
        body = f"def {fn}(a, b):\n    if b == 0:\n        raise ZeroDivisionError('b is zero')\n    return a // b, a % b\n"
        args = [f"{rng.randint(-10, 30)}, {rng.choice([0, 1, 2, 3, 5, 7])}" for _ in range(3)]
    else:
        body = (f"def {h}(d, k):\n    return d[k]\n\n"
                f"def {fn}(d, keys):\n    found = []\n    for k in keys:\n        try:\n            found.append({h}(d, k))\n        except KeyError as e:\n            found.append(str(e))\n    return found\n")
        args = []
        for _ in range(3):
            d = rand_value(rng, "dict")
            ks = [rng.choice(list(d)) if d and rng.random() < 0.5 else rng.choice(WORDS) for _ in range(rng.randint(1, 3))]
            args.append(f"{d!r}, {ks!r}")
    return body, fn, args


FAMILIES: list[tuple[float, Callable[[random.Random], tuple[str, str, list[str]]]]] = [
    (0.62, composed),
    (0.1, fam_recursion),
    (0.09, fam_strings),
    (0.09, fam_lists),
    (0.05, fam_dicts),
    (0.05, fam_exceptions),
]


#: The default surface style of generated code: 0 = plain code (the data of the shipped model),
#: 1 = plain code plus docstrings, comments, type hints, blank lines and header lines (as
#: user code has them), drawn from a separate random stream so the programs themselves are
#: the same as with style 0; 2 = style 1 with a share (TASK_SHARE) of exercise-style programs
#: (:mod:`neurodebug.training.tasks`: descriptive names, prose docstrings with an example, nested
#: loops, strings built piece by piece, traces up to TASK_MAX_FRAMES long), nearer to user code.
STYLE = 1
#: Under style 2, this share of programs comes from :mod:`neurodebug.training.tasks`.
TASK_SHARE = 0.3

_DEF_LINE = re.compile(r"^(\s*)def (\w+)\((.*)\):$")
_COMMENTS = ["check the edge case", "main loop", "accumulate", "keep the best so far", "base case", "update state",
             "done", "try it", "count them", "helper", "return the result", "fast path", "keep it simple",
             "walk the input", "build the output", "guard"]
_DOCS = ["Return the result.", "Compute a value from the input.", "Process the items and return the answer.",
         "Count, filter and combine.", "Walk the input once.", "A small helper.", "Check the input and transform it."]


def _hint(value) -> str | None:
    t = type(value)
    if t in (int, str, bool, float):
        return t.__name__
    if t is list:
        inner = {type(v).__name__ for v in value}
        return f"list[{inner.pop()}]" if len(inner) == 1 else "list"
    if t is dict:
        return "dict[str, int]" if all(type(k) is str and type(v) is int for k, v in value.items()) else "dict"
    if t is tuple:
        return "tuple"
    if t is set:
        return "set[int]"
    return None


def stylize(source: str, entry: str, calls: list[str], rng: random.Random) -> str:
    """Add the surface of real code (comments, docstrings, type hints, blank lines, a header)."""
    out: list[str] = []
    r = rng.random()
    if r < 0.08:
        out += [f"# neurodebug: {entry}({calls[0]})"]
    elif r < 0.16:
        out += [rng.choice(["import math", "from typing import List", "import string", "import re"]), ""]
    elif r < 0.22:
        out += [f"# {rng.choice(_COMMENTS)}", ""]
    hints = None
    if rng.random() < 0.3:
        try:
            args = ast.literal_eval(f"({calls[0]},)")
            hints = [_hint(a) for a in args]
        except (ValueError, SyntaxError):
            hints = None
    for line in source.split("\n"):
        m = _DEF_LINE.match(line)
        if m:
            indent, name, params = m.groups()
            names = [p.strip() for p in params.split(",") if p.strip()]
            if hints and name == entry and len(hints) == len(names) and all(hints):
                line = f"{indent}def {name}({', '.join(f'{n}: {h}' for n, h in zip(names, hints))}):"
            out.append(line)
            d = rng.random()
            if d < 0.15:
                out.append(f'{indent}    """{rng.choice(_DOCS)}"""')
            elif d < 0.25:
                out += [f'{indent}    """{rng.choice(_DOCS)}', "", f"{indent}    >>> {name}({calls[0] if name == entry else '...'})",
                        f'{indent}    """']
            continue
        if line.strip() and rng.random() < 0.05:
            out.append(line[: len(line) - len(line.lstrip())] + f"# {rng.choice(_COMMENTS)}")
        if line.strip() and rng.random() < 0.04:
            line += f"  # {rng.choice(_COMMENTS)}"
        out.append(line)
        if line.strip() and rng.random() < 0.03:
            out.append("")
    return "\n".join(out)


def program(seed: int, index: int, style: int | None = None) -> tuple[str, str, list[str]]:
    """Program ``index`` of ``seed``: (source, entry, candidate argument expressions)."""
    return _program(seed, index, style)[:3]


def _program(seed: int, index: int, style: int | None = None) -> tuple[str, str, list[str], int]:
    """:func:`program` and the longest trace kept for it."""
    style = STYLE if style is None else style
    if style >= 2:
        trng = random.Random(f"{seed}:{index}:task")
        if trng.random() < TASK_SHARE:
            return (*tasks.task_program(trng), tasks.TASK_MAX_FRAMES)
    rng = random.Random(f"{seed}:{index}")
    x = rng.random()
    for w, fam in FAMILIES:
        if x < w:
            src, entry, calls = fam(rng)
            break
        x -= w
    else:
        src, entry, calls = composed(rng)
    if style >= 1:
        src = stylize(src, entry, calls, random.Random(f"{seed}:{index}:style"))
    return src, entry, calls, MAX_FRAMES


# -- tracing ---------------------------------------------------------------------------------


@dataclass
class Sample:
    id: str
    source: str
    entry: str
    call: str
    max_frames: int = MAX_FRAMES


def samples(seed: int, start: int, stop: int, calls_per_program: int = 2, style: int | None = None) -> Iterator[Sample]:
    """The (untraced) samples of programs ``start .. stop-1``: up to ``calls_per_program`` inputs each."""
    for i in range(start, stop):
        src, entry, calls, max_frames = _program(seed, i, style)
        seen = set()
        for j, c in enumerate(calls):
            if c in seen or len(seen) >= calls_per_program:
                continue
            seen.add(c)
            yield Sample(f"s{seed}-{i}-{j}", src, entry, c, max_frames)


def keep(trace, max_frames: int = MAX_FRAMES) -> bool:
    """Whether a real trace is a good training example."""
    if trace.end.reason not in ("returned", "raised"):
        return False
    if not trace.frames or len(trace.frames) > max_frames:
        return False
    for f in trace.frames:
        if f.arg is not None and len(f.arg) > MAX_REPR:
            return False
        for v in f.locals.values():
            if len(v) > MAX_REPR:
                return False
    return True


LIMITS = dict(wall_s=3.0, cpu_s=2.0, max_frames=MAX_FRAMES + 1, max_repr=MAX_REPR + 20)


def trace_samples(batch: list[Sample], fast: bool = True):
    """Trace a batch with the real tracer; yields (sample, trace) for the traces worth keeping."""
    from neurodebug.real import sandbox
    from neurodebug.real.tracer import Limits, trace_source

    runner = sandbox.run_forked if fast and hasattr(os, "fork") else sandbox.run
    for s in batch:
        limits = Limits(**{**LIMITS, "max_frames": s.max_frames + 1})
        tr = trace_source(s.source, s.entry, s.call, limits=limits, runner=runner)
        if keep(tr, s.max_frames):
            yield s, tr


def _work(args):
    seed, start, stop, calls, *rest = args
    batch = list(samples(seed, start, stop, calls, rest[0] if rest else None))
    return [(s.id, tr.to_json_dict()) for s, tr in trace_samples(batch)]


def generate(seed: int, n_programs: int, out_path: str | None = None, jobs: int = 1, calls_per_program: int = 2,
             chunk: int = 200, progress: Callable[[int, int], None] | None = None, style: int | None = None) -> list[dict]:
    """Trace programs 0..n_programs-1 of ``seed``; returns (and optionally writes as JSONL) trace dicts.

    The output order is the program order whatever ``jobs`` is, so a seed gives one file.
    """
    tasks = [(seed, a, min(a + chunk, n_programs), calls_per_program, style) for a in range(0, n_programs, chunk)]
    out: list[dict] = []
    fh = open(out_path, "w") if out_path else None
    try:
        if jobs > 1:
            import multiprocessing as mp

            ctx = mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")
            with ctx.Pool(jobs) as pool:
                results = pool.imap(_work, tasks)
                for k, res in enumerate(results):
                    _collect(res, out, fh)
                    if progress:
                        progress(min((k + 1) * chunk, n_programs), n_programs)
        else:
            for k, t in enumerate(tasks):
                _collect(_work(t), out, fh)
                if progress:
                    progress(min((k + 1) * chunk, n_programs), n_programs)
    finally:
        if fh:
            fh.close()
    return out


def _collect(res, out, fh):
    for sid, d in res:
        d = {"id": sid, **d}
        out.append(d)
        if fh:
            fh.write(json.dumps(d, ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(description="Generate traced training programs.")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--programs", type=int, default=1000)
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    p.add_argument("--out", required=True)
    p.add_argument("--style", type=int, default=STYLE, help="surface style of the code (see STYLE)")
    p.add_argument("--show", type=int, default=0, help="print this many programs and exit")
    a = p.parse_args(argv)
    if a.show:
        for i in range(a.show):
            src, entry, calls = program(a.seed, i, a.style)
            print(f"# --- {i} entry={entry} calls={calls}\n{src}")
        return 0
    rows = generate(a.seed, a.programs, a.out, jobs=a.jobs, style=a.style)
    print(f"{len(rows)} traces -> {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
