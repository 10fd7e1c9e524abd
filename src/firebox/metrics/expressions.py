"""Metric math: the expressions GetMetricData evaluates over the metrics it fetched.

Supported: numbers, query ids, `+ - * / ^`, parentheses, and the functions METRICS([filter]),
SUM, AVG, MIN, MAX, STDDEV (over an array: one series; over one series: a scalar, as
CloudWatch defines them), ABS and FILL(series, value | REPEAT). Series combine on the
timestamps both have.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from firebox.metrics.errors import validation

_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<str>'[^']*'|\"[^\"]*\")|(?P<op>[-+*/^(),]))"
)


@dataclass
class Series:
    """A time series: value per period start (epoch seconds)."""

    points: dict[int, float] = field(default_factory=dict)
    label: str = ""


Value = float | Series | list[Series]


class ExpressionError(Exception):
    pass


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        found = _TOKEN.match(text, pos)
        if found is None or found.end() == pos:
            raise ExpressionError(f"Syntax error at position {pos + 1}")
        kind = found.lastgroup
        assert kind is not None
        out.append((kind, found.group(kind)))
        pos = found.end()
    return out


class _Parser:
    """Precedence climbing over the tokens; returns a tree of tuples."""

    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value):
            raise ExpressionError(f"expected {value or 'more'}")
        self.pos += 1
        return token

    def parse(self) -> tuple[object, ...]:
        tree = self.expr(0)
        if self.peek() is not None:
            raise ExpressionError(f"unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return tree

    _BINARY = {"+": 1, "-": 1, "*": 2, "/": 2, "^": 3}

    def expr(self, floor: int) -> tuple[object, ...]:
        left = self.unary()
        while (token := self.peek()) and token[0] == "op" and token[1] in self._BINARY:
            level = self._BINARY[token[1]]
            if level < floor:
                break
            self.take()
            right = self.expr(level + (0 if token[1] == "^" else 1))
            left = ("bin", token[1], left, right)
        return left

    def unary(self) -> tuple[object, ...]:
        token = self.take()
        kind, text = token
        if kind == "op" and text == "-":
            return ("neg", self.unary())
        if kind == "op" and text == "(":
            inner = self.expr(0)
            self.take(")")
            return inner
        if kind == "num":
            return ("num", float(text))
        if kind == "str":
            return ("str", text[1:-1])
        if kind == "name":
            nxt = self.peek()
            if nxt is not None and nxt[1] == "(":
                self.take("(")
                args: list[tuple[object, ...]] = []
                if self.peek() is not None and self.peek()[1] != ")":  # type: ignore[index]
                    args.append(self.expr(0))
                    while self.peek() is not None and self.peek()[1] == ",":  # type: ignore[index]
                        self.take(",")
                        args.append(self.expr(0))
                self.take(")")
                return ("call", text.upper(), args)
            return ("id", text)
        raise ExpressionError(f"unexpected {text!r}")


MAX_DEPTH = 50  # nesting of an expression (CloudWatch's own limit is lower still)


def parse(text: str) -> tuple[object, ...]:
    try:
        tree = _Parser(text).parse()
    except ExpressionError as exc:
        raise validation(f"Error in expression '{text[:200]}': {exc}") from None
    except RecursionError:
        tree = ()
    if not tree or _depth(tree) > MAX_DEPTH:
        raise validation(f"Error in expression '{text[:200]}': nested too deeply")
    return tree


def _depth(tree: tuple[object, ...]) -> int:
    parts = [p for p in tree[1:] if isinstance(p, tuple)]
    parts += [a for p in tree[1:] if isinstance(p, list) for a in p]
    return 1 + max((_depth(p) for p in parts), default=0)


def references(tree: tuple[object, ...]) -> set[str]:
    """The query ids an expression names."""
    found: set[str] = set()
    if tree[0] == "id":
        found.add(str(tree[1]))
    for part in tree[1:]:
        if isinstance(part, tuple):
            found |= references(part)
        elif isinstance(part, list):
            for arg in part:
                found |= references(arg)
    return found


def _combine(a: Value, b: Value, fn: Callable[[float, float], float]) -> Value:
    if isinstance(a, list) and isinstance(b, list):
        raise ExpressionError("arithmetic between two arrays of time series is not supported")
    if isinstance(a, list):
        return [_combine(s, b, fn) for s in a]  # type: ignore[misc]
    if isinstance(b, list):
        return [_combine(a, s, fn) for s in b]  # type: ignore[misc]
    if isinstance(a, Series) and isinstance(b, Series):
        return Series({t: _safe(fn, v, b.points[t]) for t, v in a.points.items() if t in b.points})
    if isinstance(a, Series):
        return Series({t: _safe(fn, v, b) for t, v in a.points.items()}, a.label)  # type: ignore[arg-type]
    if isinstance(b, Series):
        return Series({t: _safe(fn, a, v) for t, v in b.points.items()}, b.label)
    return _safe(fn, a, b)


def _safe(fn: Callable[[float, float], float], a: float, b: float) -> float:
    try:
        value = fn(a, b)
    except (ZeroDivisionError, OverflowError, ValueError):
        return math.nan  # dropped from the result, as CloudWatch drops non-numbers
    return value if isinstance(value, float | int) else math.nan  # (a complex power)


_OPS: dict[str, Callable[[float, float], float]] = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
    "/": lambda a, b: a / b, "^": lambda a, b: a**b,
}  # fmt: skip
_REDUCE: dict[str, Callable[[list[float]], float]] = {
    "SUM": math.fsum, "AVG": statistics.fmean, "MIN": min, "MAX": max,
    "STDDEV": lambda xs: statistics.pstdev(xs) if len(xs) > 1 else 0.0,
}  # fmt: skip


def evaluate(tree: tuple[object, ...], ids: Mapping[str, Callable[[], Value]],
             metric_ids: list[str]) -> Value:  # fmt: skip
    """Evaluates a tree; `ids` gives each query's value, `metric_ids` what METRICS() means."""
    kind = tree[0]
    if kind == "num":
        return float(tree[1])  # type: ignore[arg-type]
    if kind == "str":
        raise ExpressionError("a string is only an argument of METRICS()")
    if kind == "id":
        name = str(tree[1])
        if name not in ids:
            raise ExpressionError(f"Unrecognized metric or expression id {name}")
        return ids[name]()
    if kind == "neg":
        return _combine(evaluate(tree[1], ids, metric_ids), -1.0, _OPS["*"])  # type: ignore[arg-type]
    if kind == "bin":
        left = evaluate(tree[2], ids, metric_ids)  # type: ignore[arg-type]
        right = evaluate(tree[3], ids, metric_ids)  # type: ignore[arg-type]
        return _combine(left, right, _OPS[str(tree[1])])
    name, args = str(tree[1]), tree[2]
    assert isinstance(args, list)
    if name == "METRICS":
        wanted = ""
        if args:
            if args[0][0] != "str":
                raise ExpressionError("METRICS() takes a string")
            wanted = str(args[0][1])
        out: list[Series] = []
        for metric_id in metric_ids:
            value = ids[metric_id]()
            if wanted in metric_id and isinstance(value, Series):
                out.append(value)
        return out
    if name == "FILL" and len(args) == 2:  # its second argument is a number or REPEAT
        return _fill(evaluate(args[0], ids, metric_ids), args[1], [ids[m]() for m in metric_ids])
    values = [evaluate(arg, ids, metric_ids) for arg in args]
    if name in _REDUCE:
        if len(values) != 1:
            raise ExpressionError(f"{name} takes one argument")
        return _reduce(name, values[0])
    if name == "ABS" and len(values) == 1:
        return _combine(values[0], 0.0, lambda a, _b: abs(a))
    raise ExpressionError(f"Unknown function {name}")


def _reduce(name: str, value: Value) -> Value:
    reduce = _REDUCE[name]

    def fn(numbers: list[float]) -> float:
        try:
            return reduce(numbers)
        except (OverflowError, ValueError, statistics.StatisticsError):
            return math.nan

    if isinstance(value, list):  # across series, at each timestamp
        stamps = sorted({t for s in value for t in s.points})
        return Series({t: fn([s.points[t] for s in value if t in s.points]) for t in stamps})
    if isinstance(value, Series):
        return fn(list(value.points.values())) if value.points else math.nan
    return value


def _fill(value: Value, how: tuple[object, ...], fetched: list[Value]) -> Value:
    """FILL(series, value | REPEAT): gaps at the periods any fetched series has data."""
    stamps = sorted({t for v in fetched if isinstance(v, Series) for t in v.points})
    series = value if isinstance(value, list) else [value]
    filled: list[Series] = []
    for s in series:
        if not isinstance(s, Series):
            raise ExpressionError("FILL takes a time series")
        points, last = {}, math.nan
        for t in stamps:
            if t in s.points:
                last = points[t] = s.points[t]
            elif how[0] == "id" and str(how[1]).upper() == "REPEAT":
                if not math.isnan(last):
                    points[t] = last
            elif how[0] == "num":
                points[t] = float(how[1])  # type: ignore[arg-type]
            else:
                raise ExpressionError("FILL takes a number or REPEAT")
        filled.append(Series(points, s.label))
    return filled if isinstance(value, list) else filled[0]
