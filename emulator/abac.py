"""Azure ABAC conditions (version 2.0) on role assignments: parsed and evaluated, for the subset this
product's delegation condition uses.

Grammar, from "Azure role assignment condition format and syntax" and the worked examples of
"Examples to delegate Azure role assignment management with conditions" (learn.microsoft.com,
role-based-access-control/conditions-format and delegate-role-assignments-examples):

    condition  := clause (("AND" | "OR") clause)*
    clause     := "(" condition ")" | "!" "(" "ActionMatches" "{" quoted "}" ")" | expression
    expression := "@" ("Request" | "Resource") "[" attribute "]" operator "{" values "}"
    operator   := ["ForAnyOfAnyValues:"] ("GuidEquals" | "StringEquals" | "StringEqualsIgnoreCase")

AND binds tighter than OR (the documented precedence). A condition outside this subset is refused
when loaded, never silently treated as true.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_TOKEN = re.compile(
    r"\s*(?:(?P<open>\()|(?P<close>\))|(?P<not>!)|(?P<word>AND|OR)\b|(?P<action>ActionMatches)\s*\{\s*'(?P<pattern>[^']*)'\s*\}"
    r"|@(?P<source>Request|Resource)\[(?P<attribute>[^\]]+)\]\s+(?P<operator>(?:ForAnyOfAnyValues:)?"
    r"(?:GuidEquals|StringEqualsIgnoreCase|StringEquals))\s*\{(?P<values>[^}]*)\})",
    re.IGNORECASE,
)


class ConditionError(ValueError):
    """The condition is not one the emulator can evaluate."""


@dataclass(frozen=True)
class Context:
    """What a condition sees: the action and the request's and the existing resource's attributes."""

    action: str
    request: Mapping[str, str]
    resource: Mapping[str, str]


def evaluate(condition: str, context: Context) -> bool:
    """True when `condition` holds for `context`."""
    parser = _Parser(_tokens(condition))
    result = parser.condition(context)
    if parser.position != len(parser.tokens):
        raise ConditionError(f"unexpected text after position {parser.position} of the condition")
    return result


def check(condition: str) -> None:
    """Raise ConditionError when the condition cannot be parsed."""
    evaluate(condition, Context(action="", request={}, resource={}))


def _tokens(text: str) -> list[re.Match[str]]:
    tokens, position = [], 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise ConditionError(f"cannot read the condition at {text[position : position + 40]!r}")
        tokens.append(match)
        position = match.end()
        while position < len(text) and text[position].isspace():
            position += 1
    return tokens


class _Parser:
    def __init__(self, tokens: list[re.Match[str]]) -> None:
        self.tokens = tokens
        self.position = 0

    def _peek(self, group: str) -> bool:
        return self.position < len(self.tokens) and self.tokens[self.position].group(group) is not None

    def _take(self, group: str) -> re.Match[str]:
        if not self._peek(group):
            raise ConditionError(f"expected {group} at token {self.position} of the condition")
        token = self.tokens[self.position]
        self.position += 1
        return token

    def condition(self, context: Context) -> bool:
        """OR of AND-groups; every clause is parsed (so a malformed tail is refused) before combining."""
        groups = [[self.clause(context)]]
        while self._peek("word"):
            word = self._take("word").group("word").upper()
            value = self.clause(context)
            if word == "AND":
                groups[-1].append(value)
            else:
                groups.append([value])
        return any(all(group) for group in groups)

    def clause(self, context: Context) -> bool:
        if self._peek("open"):
            self._take("open")
            value = self.condition(context)
            self._take("close")
            return value
        if self._peek("not"):
            self._take("not")
            self._take("open")
            action = self._take("action").group("pattern")
            self._take("close")
            return not _action_matches(action, context.action)
        token = self._take("operator")
        attributes = context.request if token.group("source").lower() == "request" else context.resource
        actual = attributes.get(token.group("attribute"), "")
        values = [v.strip().strip("'") for v in token.group("values").split(",") if v.strip()]
        operator = token.group("operator").split(":")[-1].lower()
        if operator == "stringequals":
            return actual in values
        return actual.lower() in {v.lower() for v in values}


def _action_matches(pattern: str, action: str) -> bool:
    """ActionMatches: `*` stands for any run of characters; actions compare case-insensitively."""
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, action, re.IGNORECASE) is not None


def action_allowed(patterns: tuple[str, ...], excluded: tuple[str, ...], action: str) -> bool:
    """Does a role's Actions (or DataActions) list, minus its NotActions, include `action`?"""
    return any(_action_matches(p, action) for p in patterns) and not any(_action_matches(p, action) for p in excluded)
