"""A T-SQL grammar check for the statements the SQL engine renders (there is no SQL Server here).

It is sqlfluff's ``tsql`` dialect with two documented T-SQL rules that sqlfluff 4.5.0 lacks, added
to a private copy of the dialect (the shared one is untouched); the rest of the grammar is sqlfluff's:

1. Inside a bracketed identifier ``]`` is written ``]]`` (QUOTENAME('a]b') is ``[a]]b]``); sqlfluff's
   lexer ends the identifier at the first ``]``, so any name holding one would not parse.
2. ``CREATE USER <name> WITH SID = <binary>, TYPE = E | X``: the form Microsoft's CREATE USER page
   documents for Microsoft Entra principals created without a directory lookup; sqlfluff's CREATE
   USER has ``SID =`` but no ``TYPE =``.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlfluff.core import FluffConfig, Linter
from sqlfluff.core.dialects import Dialect, load_raw_dialect
from sqlfluff.core.parser import CodeSegment, KeywordSegment, OneOf, Ref, RegexLexer, Sequence, StringParser
from sqlfluff.dialects import dialect_tsql

BRACKETED = r"\[(?:[^\]]|\]\])*\]"


class CreateUserWithTypeSegment(dialect_tsql.CreateUserStatementSegment):
    """sqlfluff's CREATE USER, or the Entra form ``CREATE USER [n] WITH SID = 0x.., TYPE = E|X``."""

    match_grammar = Sequence(
        OneOf(
            Sequence(
                "CREATE",
                "USER",
                Ref("RoleReferenceSegment"),
                "WITH",
                "SID",
                Ref("EqualsSegment"),
                Ref("HexadecimalLiteralSegment"),
                Ref("CommaSegment"),
                "TYPE",
                Ref("EqualsSegment"),
                OneOf(
                    StringParser("E", KeywordSegment, type="keyword"), StringParser("X", KeywordSegment, type="keyword")
                ),
            ),
            dialect_tsql.CreateUserStatementSegment.match_grammar,
        )
    )


class TsqlParseError(AssertionError):
    """The text is not valid T-SQL (as far as the grammar can tell)."""


@cache
def _dialect() -> Dialect:
    dialect = load_raw_dialect("tsql").copy_as("tsql")
    dialect.patch_lexer_matchers(
        [
            RegexLexer(
                "square_quote",
                BRACKETED,
                CodeSegment,
                segment_kwargs={"quoted_value": (r"\[((?:[^\]]|\]\])*)\]", 1)},
            )
        ]
    )
    dialect.replace(CreateUserStatementSegment=CreateUserWithTypeSegment)
    return dialect.expand()


def _linter(*, placeholders: bool) -> Linter:
    configs: dict[str, Any] = {"core": {"dialect": "tsql"}}
    if placeholders:  # catalog reads bind their values as qmark parameters
        configs["core"]["templater"] = "placeholder"
        configs["templater"] = {"placeholder": {"param_style": "question_mark"}}
    config = FluffConfig(configs=configs)
    # sqlfluff has no public way to hand a Linter a dialect object; its own runner sets this key too.
    config._configs["core"]["dialect_obj"] = _dialect()
    return Linter(config=config)


def parse(sql: str, *, placeholders: bool = False) -> list[str]:
    """The types of the top-level statements in ``sql``; ``TsqlParseError`` when any part is unparsable."""
    parsed = _linter(placeholders=placeholders).parse_string(sql)
    if parsed.violations or parsed.tree is None:
        raise TsqlParseError("; ".join(v.desc() for v in parsed.violations) or "nothing parsed")
    statements = parsed.tree.recursive_crawl("statement", recurse_into=False)
    return [statement.segments[0].get_type() for statement in statements]


def one_statement(sql: str) -> str:
    """The type of the one statement ``sql`` holds; ``TsqlParseError`` for none, several or bad syntax."""
    types = parse(sql)
    if len(types) != 1:
        raise TsqlParseError(f"expected one statement, found {types}")
    return types[0]


def quoted_identifiers(sql: str) -> list[str]:
    """The bracketed identifiers in ``sql`` as written, in order."""
    parsed = _linter(placeholders=False).parse_string(sql)
    assert parsed.tree is not None
    return [segment.raw for segment in parsed.tree.recursive_crawl("quoted_identifier")]
