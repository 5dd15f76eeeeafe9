"""The model's own answer to "what should this database hold for this principal?".

Written from the product contract (PRODUCT.md sections 2-3 and the least-privilege profiles the
docs describe), deliberately without importing the planner or ``provisioning.privileges``: a model
that asks the code under test what to expect proves nothing.

A grant is ``(kind, object, privilege)`` in the database server's own vocabulary, so it compares
directly with what ``servers.py`` reads from the server's catalog.
"""

from __future__ import annotations

Grant = tuple[str, str, str]

DML = ("SELECT", "INSERT", "UPDATE", "DELETE")
# Role profile -> engine-neutral privileges. ``auditor`` is a custom profile the model catalog defines.
PROFILES: dict[str, frozenset[str]] = {
    "reader": frozenset({"SELECT"}),
    "writer": frozenset(DML),
    "ddl": frozenset({*DML, "CREATE"}),
    "auditor": frozenset({"SELECT"}),
}
CUSTOM_PROFILES = {"auditor": ["SELECT"]}


def postgres_grants(
    profile: str, *, database: str, owner: str, tables: frozenset[str], sequences: frozenset[str]
) -> frozenset[Grant]:
    """Inside the managed scope: the database, schema ``public``, the owner role's tables and
    sequences, and the owner role's default privileges (so tables made later are covered)."""
    wanted = PROFILES[profile]
    table_privileges = [p for p in DML if p in wanted]
    sequence_privileges = (["SELECT"] if "SELECT" in wanted else []) + (
        ["USAGE"] if wanted & {"INSERT", "UPDATE"} else []  # nextval() for serial keys
    )
    grants: set[Grant] = {("database", database, "CONNECT"), ("schema", "public", "USAGE")}
    if "CREATE" in wanted:
        grants.add(("schema", "public", "CREATE"))
    grants |= {("table", name, p) for name in tables for p in table_privileges}
    grants |= {("sequence", name, p) for name in sequences for p in sequence_privileges}
    grants |= {("default_table", owner, p) for p in table_privileges}
    grants |= {("default_sequence", owner, p) for p in sequence_privileges}
    return frozenset(grants)


def mysql_grants(profile: str, *, database: str) -> frozenset[Grant]:
    """MySQL grants live on ``db``.*; ``ddl`` adds what migrations need, never DROP (DROP DATABASE)."""
    wanted = PROFILES[profile]
    privileges = {p for p in DML if p in wanted}
    if "CREATE" in wanted:
        privileges |= {"CREATE", "ALTER", "INDEX", "REFERENCES"}
    return frozenset(("database", database, p) for p in privileges)


def sql_grants(profile: str, *, database: str) -> frozenset[Grant]:
    """Azure SQL: CONNECT (comes with the user), DML on schema ``dbo``; ``ddl`` may create tables and
    views and alter the schema. No role membership, never CONTROL."""
    wanted = PROFILES[profile]
    grants: set[Grant] = {("database", database, "CONNECT")}
    grants |= {("schema", "dbo", p) for p in DML if p in wanted}
    if "CREATE" in wanted:
        grants |= {
            ("schema", "dbo", "ALTER"),
            ("database", database, "CREATE TABLE"),
            ("database", database, "CREATE VIEW"),
        }
    return frozenset(grants)


# Blob container profile -> the built-in role the catalog's storage-blob targets map it to, by role
# definition GUID as "Azure built-in roles" publishes them (learn.microsoft.com/azure/
# role-based-access-control/built-in-roles/storage): Storage Blob Data Reader, Storage Blob Data Contributor.
BLOB_ROLES: dict[str, str] = {
    "reader": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
    "writer": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
}
BLOB_WRITERS = frozenset({BLOB_ROLES["writer"]})  # of the two, the one whose holder may write blobs
