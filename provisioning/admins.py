"""Which Entra administrator of a server the function acts as; it never makes itself one."""

from __future__ import annotations

from provisioning.engines.dialects import dialect_for
from provisioning.errors import AdminMissing
from provisioning.models import AdminGroup, Engine, ServerInfo


def admin_login(engine: Engine, server: ServerInfo, *, function_object_id: str, group: AdminGroup | None) -> str:
    """The login of the administrator the function is (itself, or the catalog's admin group)."""
    candidates = {function_object_id.lower()}
    if group is not None:
        candidates.add(group.object_id)
    for admin in server.administrators:
        if admin.object_id in candidates:
            return admin.login
    raise AdminMissing(missing_admin_message(engine, server, function_object_id.lower(), group))


def missing_admin_message(engine: Engine, server: ServerInfo, function_object_id: str, group: AdminGroup | None) -> str:
    """Name the exact command that makes the function (or its group) an administrator.

    PostgreSQL takes several Entra admins, so one is added. Azure SQL and MySQL take one: an existing
    admin is never replaced; the way in is a group admin that the function's identity is a member of.
    """
    dialect = dialect_for(engine)
    object_id = group.object_id if group else (function_object_id or "<function identity object id>")
    # An exact command, never a blank to fill in: the service principal's display name is read by
    # `az ad sp show --id <object id>` (learn.microsoft.com/cli/azure/ad/sp#az-ad-sp-show: --id takes
    # the object id) inside the command itself.
    name = group.name if group else f'"$(az ad sp show --id {object_id} --query displayName -o tsv)"'
    rid = server.id
    where = f"--resource-group {rid.resource_group} --server-name {rid.names[0]}"
    lead = f"the function is not an Entra administrator of {rid.id}"
    if dialect.several_admins:
        kind = "Group" if group else "ServicePrincipal"
        return (
            f"{lead}; an owner of the server can add it (existing administrators are kept): "
            f"{dialect.admin_command} {where} --display-name {name} --object-id {object_id} --type {kind}"
        )
    if server.administrators:
        current = ", ".join(admin.login for admin in server.administrators)
        return (
            f"{lead}; its administrator is {current}, and this server takes only one, which is never replaced: "
            f"add the function's identity to that group and name it as admin_group in the catalog"
        )
    arguments = f"{where} --display-name {name} --object-id {object_id}"
    return (
        f"{lead}; an owner of the server can set it: {dialect.admin_command} {arguments}"
        + dialect.admin_command_extra.format(resource_group=rid.resource_group, server=rid.names[0])
    )
