"""The part of the Kusto query language (KQL) that Resource Graph queries here use, evaluated over rows.

Resource Graph answers a query it cannot parse or resolve with 400 `BadRequest` and an `InvalidQuery`
detail (recorded: `recorded-arm/graph_query_error.json`). The emulator does the same for anything
outside this subset, so a query the product sends that the emulator cannot evaluate fails a test
instead of silently returning every row.

Supported, with KQL's semantics (Microsoft Learn, "Kusto Query Language" reference):
- a table name, then `| where`, `| extend`, `| project`, `| mv-expand [bagexpansion=array|bag]
  [name =] expression`, `| join kind=inner|leftouter (subquery) on column`;
- `and`, `or`; `==` and `!=` (case-sensitive), `=~` and `!~` (case-insensitive), `in (...)`,
  `in~ (...)`, `contains` (case-insensitive substring); string and integer literals; columns;
  property access `a.b`, `a['b']`, `a[0]` on
  dynamic values, with bag keys compared case-sensitively (as Resource Graph's `tags['key']`);
- functions `tostring`, `tolower`, `toupper`, `isnotempty`, `isempty`, `isnull`, `isnotnull`,
  `replace_string`.
A column that does not exist, an unknown function or operator, or a syntax error is a `QueryError`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Row = dict[str, Any]
Expr = Callable[[Row], Any]

_TOKEN = re.compile(
    r"""\s*(?:
    (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<number>\d+)
  | (?P<op>==|=~|!=|!~|in~|\||\(|\)|\[|\]|,|\.|=)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:-[A-Za-z]+)?)
  )""",
    re.VERBOSE,
)


class QueryError(ValueError):
    """The query cannot be evaluated; ``position`` is the character offset where it went wrong."""

    def __init__(self, message: str, position: int, token: str = "") -> None:
        super().__init__(message)
        self.position = position
        self.token = token


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    at: int


def _tokens(query: str) -> list[_Token]:
    tokens, at = [], 0
    while at < len(query):
        if query[at:].strip() == "":
            break
        match = _TOKEN.match(query, at)
        if match is None or match.end() == at:
            start = len(query) - len(query[at:].lstrip())
            raise QueryError(f"unexpected character {query[start]!r}", start, query[start])
        kind = match.lastgroup or ""
        tokens.append(_Token(kind, match.group(kind), match.start(kind)))
        at = match.end()
    tokens.append(_Token("eof", "<EOF>", len(query)))
    return tokens


def _text(value: Any) -> str:
    """KQL's tostring(): null is empty, dynamic values are their JSON text."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _empty(value: Any) -> bool:
    return value is None or value == ""


_FUNCTIONS: dict[str, tuple[int, Callable[..., Any]]] = {
    "tostring": (1, _text),
    "tolower": (1, lambda v: _text(v).lower()),
    "toupper": (1, lambda v: _text(v).upper()),
    "isnotempty": (1, lambda v: not _empty(v)),
    "isempty": (1, _empty),
    "isnull": (1, lambda v: v is None),
    "isnotnull": (1, lambda v: v is not None),
    "replace_string": (3, lambda text, lookup, rewrite: _text(text).replace(_text(lookup), _text(rewrite))),
}


def _compare(op: str, left: Any, right: Any) -> bool:
    if op in ("=~", "!~"):
        equal = _text(left).lower() == _text(right).lower()
    else:
        equal = left == right if not (isinstance(left, str) or isinstance(right, str)) else _text(left) == _text(right)
    return equal if op in ("==", "=~") else not equal


def _index(value: Any, key: Any) -> Any:
    if isinstance(value, Mapping) and isinstance(key, str):
        return value.get(key)  # bag keys are case-sensitive
    if isinstance(value, list) and isinstance(key, int):
        return value[key] if -len(value) <= key < len(value) else None
    return None


Tables = Mapping[str, Callable[[], list[Row]]]


class _Parser:
    def __init__(self, query: str, tables: Tables) -> None:
        self._tokens = _tokens(query)
        self._at = 0
        self._tables = tables

    # -- tokens
    def _peek(self) -> _Token:
        return self._tokens[self._at]

    def _next(self) -> _Token:
        token = self._tokens[self._at]
        self._at += 1
        return token

    def _accept(self, text: str) -> bool:
        if self._peek().kind in ("op", "ident") and self._peek().text == text:
            self._at += 1
            return True
        return False

    def _expect(self, text: str) -> None:
        if not self._accept(text):
            self._fail(f"expected '{text}'")

    def _fail(self, message: str) -> Any:
        token = self._peek()
        raise QueryError(f"{message} at {token.text!r}", token.at, token.text)

    def _ident(self) -> str:
        token = self._peek()
        if token.kind != "ident":
            self._fail("expected a name")
        self._at += 1
        return token.text

    # -- query
    def query(self, *, nested: bool = False) -> Callable[[], list[Row]]:
        table_token = self._peek()
        name = self._ident().lower()  # table names are not case-sensitive in Resource Graph
        if name not in self._tables:
            raise QueryError(f"unknown table '{table_token.text}'", table_token.at, table_token.text)
        source = self._tables[name]
        steps: list[Callable[[list[Row]], list[Row]]] = []
        while self._accept("|"):
            steps.append(self._operator())
        end = self._peek()
        if not (end.kind == "eof" or (nested and end.text == ")")):
            self._fail("expected '|' or the end of the query")

        def run() -> list[Row]:
            rows = [dict(row) for row in source()]
            for step in steps:
                rows = step(rows)
            return rows

        return run

    def _operator(self) -> Callable[[list[Row]], list[Row]]:
        token = self._peek()
        name = self._ident().lower()
        if name == "where":
            predicate = self._expression()
            return lambda rows: [row for row in rows if predicate(row) is True]
        if name in ("extend", "project"):
            columns = self._assignments()
            keep_others = name == "extend"
            return lambda rows: [
                ({**row} if keep_others else {}) | {column: expr(row) for column, expr in columns} for row in rows
            ]
        if name == "mv-expand":
            return self._mv_expand()
        if name == "join":
            return self._join()
        raise QueryError(f"the operator '{token.text}' is not supported here", token.at, token.text)

    def _assignments(self) -> list[tuple[str, Expr]]:
        columns = []
        while True:
            token = self._peek()
            name = self._ident()
            if self._accept("="):
                columns.append((name, self._expression()))
            else:
                self._at -= 1
                expr = self._expression()
                if self._tokens[self._at - 1] is not token:
                    raise QueryError("a computed column needs a name (name = expression)", token.at, token.text)
                columns.append((name, expr))
            if not self._accept(","):
                return columns

    def _mv_expand(self) -> Callable[[list[Row]], list[Row]]:
        as_array = False
        if self._accept("bagexpansion") or self._accept("kind"):
            self._expect("=")
            mode = self._ident().lower()
            if mode not in ("array", "bag"):
                self._fail("bagexpansion is array or bag")
            as_array = mode == "array"
        token = self._peek()
        name = self._ident()
        if self._accept("="):
            expr = self._expression()
        else:
            self._at -= 1
            expr = self._expression()
            if self._tokens[self._at - 1] is not token:
                raise QueryError("mv-expand of an expression needs a name", token.at, token.text)

        def expand(rows: list[Row]) -> list[Row]:
            out = []
            for row in rows:
                value = expr(row)
                if isinstance(value, Mapping):
                    items: Iterable[Any] = [[k, v] if as_array else {k: v} for k, v in value.items()]
                elif isinstance(value, list):
                    items = value
                else:
                    items = [value]
                out.extend({**row, name: item} for item in items)
            return out

        return expand

    def _join(self) -> Callable[[list[Row]], list[Row]]:
        kind = "innerunique"
        if self._accept("kind"):
            self._expect("=")
            kind = self._ident().lower()
        if kind not in ("inner", "leftouter"):
            self._fail(f"join kind '{kind}' is not supported here")
        self._expect("(")
        right_query = self.query(nested=True)
        self._expect(")")
        self._expect("on")
        key = self._ident()

        def join(rows: list[Row]) -> list[Row]:
            right_rows = right_query()
            right_columns = sorted({c for r in right_rows for c in r})
            by_key: dict[Any, list[Row]] = {}
            for r in right_rows:
                if key not in r:
                    raise QueryError(f"the join key '{key}' is not a column of the right side", 0, key)
                by_key.setdefault(_hashable(r[key]), []).append(r)
            out = []
            for row in rows:
                if key not in row:
                    raise QueryError(f"the join key '{key}' is not a column of the left side", 0, key)
                matches = by_key.get(_hashable(row[key]), [])
                if not matches and kind == "leftouter":
                    matches = [dict.fromkeys(right_columns)]
                for match in matches:
                    out.append({**row, **{(c + "1" if c in row else c): v for c, v in match.items()}})
            return out

        return join

    # -- expressions
    def _expression(self) -> Expr:
        left = self._conjunction()
        while self._accept("or"):
            a, b = left, self._conjunction()
            left = lambda row, a=a, b=b: a(row) is True or b(row) is True  # noqa: E731
        return left

    def _conjunction(self) -> Expr:
        left = self._comparison()
        while self._accept("and"):
            a, b = left, self._comparison()
            left = lambda row, a=a, b=b: a(row) is True and b(row) is True  # noqa: E731
        return left

    def _comparison(self) -> Expr:
        left = self._primary()
        token = self._peek()
        if token.kind == "op" and token.text in ("==", "=~", "!=", "!~"):
            self._at += 1
            right = self._primary()
            return lambda row: _compare(token.text, left(row), right(row))
        if token.text in ("in", "in~") and token.kind in ("op", "ident"):
            self._at += 1
            self._expect("(")
            values = [self._primary()]
            while self._accept(","):
                values.append(self._primary())
            self._expect(")")
            op = "=~" if token.text == "in~" else "=="
            return lambda row: any(_compare(op, left(row), v(row)) for v in values)
        if token.kind == "ident" and token.text == "contains":  # case-insensitive substring, as KQL's
            self._at += 1
            needle = self._primary()
            return lambda row: _text(needle(row)).lower() in _text(left(row)).lower()
        return left

    def _primary(self) -> Expr:
        token = self._next()
        if token.kind == "string":
            literal = _unquote(token.text)
            return self._postfix(lambda row: literal)
        if token.kind == "number":
            number = int(token.text)
            return lambda row: number
        if token.kind == "op" and token.text == "(":
            inner = self._expression()
            self._expect(")")
            return self._postfix(inner)
        if token.kind != "ident":
            raise QueryError(f"unexpected {token.text!r}", token.at, token.text)
        if self._accept("("):
            return self._postfix(self._call(token))
        column = token.text

        def read(row: Row) -> Any:
            if column not in row:
                raise QueryError(f"'{column}' is not a column here", token.at, column)
            return row[column]

        return self._postfix(read)

    def _call(self, token: _Token) -> Expr:
        known = _FUNCTIONS.get(token.text)
        if known is None:
            raise QueryError(f"the function '{token.text}' is not supported here", token.at, token.text)
        arity, function = known
        args: list[Expr] = []
        if not self._accept(")"):
            args.append(self._expression())
            while self._accept(","):
                args.append(self._expression())
            self._expect(")")
        if len(args) != arity:
            raise QueryError(f"{token.text}() takes {arity} argument(s)", token.at, token.text)
        return lambda row: function(*(a(row) for a in args))

    def _postfix(self, base: Expr) -> Expr:
        while True:
            if self._accept("."):
                name = self._ident()
                base = lambda row, b=base, n=name: _index(b(row), n)  # noqa: E731
            elif self._accept("["):
                token = self._next()
                if token.kind == "string":
                    key: Any = _unquote(token.text)
                elif token.kind == "number":
                    key = int(token.text)
                else:
                    raise QueryError("an index is a string or an integer", token.at, token.text)
                self._expect("]")
                base = lambda row, b=base, k=key: _index(b(row), k)  # noqa: E731
            else:
                return base


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def _hashable(value: Any) -> Any:
    return json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else value


def evaluate(query: str, tables: Tables) -> list[Row]:
    """The rows `query` yields over `tables` (name -> rows); `QueryError` when it cannot be evaluated."""
    run = _Parser(query, tables).query()
    try:
        return run()
    except QueryError:
        raise
