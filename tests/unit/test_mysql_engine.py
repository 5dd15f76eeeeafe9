"""The MySQL dialect without a server: statement templates, quoting, wildcards, binding parsing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provisioning.engines.mysql import bound_client_id, grant_statements
from provisioning.errors import PermanentError
from provisioning.models import Grant

CLIENT_ID = "3F2A1B4C-5D6E-4F70-8A9B-0C1D2E3F4A5B"


def grants(database: str, *privileges: str) -> tuple[Grant, ...]:
    return tuple(Grant("database", (database,), p) for p in privileges)


def test_privileges_come_in_a_fixed_order_and_the_user_is_bound() -> None:
    statements = grant_statements(grants("orders", "DELETE", "SELECT", "INSERT"), "shop-web", revoke=False)
    assert statements == [("GRANT SELECT, INSERT, DELETE ON `orders`.* TO %s@%s", ("shop-web", "%"))]


def test_backticks_are_doubled_and_wildcards_escaped_in_the_database() -> None:
    [(revoke, values)] = grant_statements(grants("a`b_c%d\\e", "UPDATE", "GRANT OPTION"), "o'neil", revoke=True)
    assert revoke == "REVOKE UPDATE, GRANT OPTION ON `a``b\\_c\\%%d\\\\e`.* FROM %s@%s"
    assert values == ("o'neil", "%")  # the name only ever travels as a bound value
    assert revoke % ("'o\\'neil'", "'%'") == "REVOKE UPDATE, GRANT OPTION ON `a``b\\_c\\%d\\\\e`.* FROM 'o\\'neil'@'%'"


@given(st.text(min_size=1, max_size=64), st.sampled_from([True, False]))
def test_any_database_name_fills_its_template_as_written(database: str, revoke: bool) -> None:
    """PyMySQL fills a template with Python's ``%``: a ``%`` in the name must not be read as a placeholder."""
    [(template, values)] = grant_statements(grants(database, "SELECT"), "u", revoke=revoke)
    assert values is not None
    filled = template % tuple(f"'{value}'" for value in values)
    pattern = database.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%").replace("`", "``")
    assert f" ON `{pattern}`.* " in filled


def test_one_statement_per_database() -> None:
    statements = grant_statements(grants("b", "SELECT") + grants("a", "SELECT"), "u", revoke=False)
    assert [query for query, _ in statements] == ["GRANT SELECT ON `a`.* TO %s@%s", "GRANT SELECT ON `b`.* TO %s@%s"]


@pytest.mark.parametrize(
    ("grant", "message"),
    [
        (Grant("database", ("orders",), "SELECT; DROP DATABASE orders"), "unexpected MySQL privilege"),
        (Grant("table", ("orders", "t"), "SELECT"), "unknown MySQL object kind"),
    ],
)
def test_anything_outside_the_allow_list_never_reaches_sql(grant: Grant, message: str) -> None:
    with pytest.raises(PermanentError, match=message):
        grant_statements((grant,), "u", revoke=True)


@pytest.mark.parametrize(
    ("plugin", "authentication", "binding"),
    [
        ("aad_auth", f"AADSP:{CLIENT_ID}:upn:shop-web", CLIENT_ID.lower()),  # flexible server
        ("aad_auth", f"AADApp:{CLIENT_ID}:upn:shop-web", CLIENT_ID.lower()),  # migrated from single server
        ("aad_auth", f"AADUser:{CLIENT_ID}:upn:alice@contoso.com", None),  # a person, not an app
        ("aad_auth", f"AADGroup:{CLIENT_ID}:upn:dba", None),
        ("aad_auth", "", None),
        ("mysql_native_password", "*E9203D40C046938F74FC4B09F30F0D3C1ADD46A0", None),
    ],
)
def test_the_binding_is_the_client_id_of_an_app_user_only(
    plugin: str, authentication: str, binding: str | None
) -> None:
    assert bound_client_id(plugin, authentication) == binding
