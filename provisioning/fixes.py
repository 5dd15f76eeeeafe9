"""What a person runs to fix what the audit found: an exact command or statement, never a template
with blanks to fill in."""

from __future__ import annotations

import re
import shlex

from provisioning.audit import AppAudit, AuditState, Drift, DriftKind
from provisioning.resource_ids import AppRef

SEVERITY = ("critical", "high", "medium", "low", "none")
UNREQUESTED = re.compile(r"user-assigned identity (\S+) was attached")
KIND_SEVERITY = {
    # the app cannot log in or cannot find its database
    DriftKind.IDENTITY_DISABLED: "critical",
    DriftKind.IDENTITY_DETACHED: "critical",
    DriftKind.PRINCIPAL_MISSING: "critical",
    DriftKind.PRINCIPAL_STALE_BINDING: "critical",
    DriftKind.SETTING_MISSING: "critical",
    DriftKind.ADMIN_MISSING: "critical",
    # more rights than allowed, or a request nobody can fulfil
    DriftKind.PRIVILEGE_EXCESS: "high",
    DriftKind.REQUEST_INVALID: "high",
    DriftKind.POLICY_DENIED: "high",
    DriftKind.PRINCIPAL_CONFLICT: "high",
    DriftKind.PRIVILEGE_UNREQUESTED: "high",
    DriftKind.ROLE_MISSING: "critical",
    DriftKind.ROLE_EXCESS: "high",
    DriftKind.ROLE_STALE: "medium",
    # some queries fail, or a setting differs
    DriftKind.PRIVILEGE_MISSING: "medium",
    DriftKind.SETTING_CHANGED: "medium",
    DriftKind.ORPHAN_PRINCIPAL: "medium",
    DriftKind.NEVER_PROVISIONED: "low",
}
ADVICE = {
    DriftKind.IDENTITY_DISABLED: "Switch the app's managed identity on again: apply.",
    DriftKind.IDENTITY_DETACHED: "Attach the requested user-assigned identity again: apply.",
    DriftKind.PRINCIPAL_MISSING: "Create the app's database user again: apply.",
    DriftKind.PRINCIPAL_STALE_BINDING: "Rebind the database user to the app's current identity (logins fail until "
    "then): apply.",
    DriftKind.PRIVILEGE_MISSING: "Grant what the role profile needs again: apply.",
    DriftKind.PRIVILEGE_EXCESS: "Revoke what the role profile does not allow (find out who granted it): apply.",
    DriftKind.SETTING_MISSING: "Write the connection's app settings again: apply.",
    DriftKind.SETTING_CHANGED: "Restore the connection's app settings: apply.",
    DriftKind.ORPHAN_PRINCIPAL: "Drop the principal no managed app uses, or restore its app: run the statement as "
    "the server's Entra administrator.",
    DriftKind.ADMIN_MISSING: "Make the function an Entra administrator of the server: an owner of the server runs "
    "the command.",
    DriftKind.REQUEST_INVALID: "Correct the app's tag (the detail names the tag and the position), then apply.",
    DriftKind.POLICY_DENIED: "Ask the platform team to offer the target or role to this app (passwordless targets "
    "lists what is offered), or change the tag; then apply.",
    DriftKind.PRINCIPAL_CONFLICT: "Another live app of the same name holds this principal; it is never rebound: the "
    "platform team renames one app or drops the other's principal, then apply.",
    DriftKind.PRIVILEGE_UNREQUESTED: "An identity the provisioner attached is no longer requested and is never "
    "detached automatically: detach it once the app no longer needs it.",
    DriftKind.NEVER_PROVISIONED: "Provision it: apply (or wait for its event).",
    DriftKind.ROLE_MISSING: "The app's identity lacks the data-plane role it asked for: apply (or the az command in "
    "the detail).",
    DriftKind.ROLE_EXCESS: "A role assignment this product made is no longer requested: apply revokes it.",
    DriftKind.ROLE_STALE: "A role assignment this product made serves an identity no app uses any more: delete it "
    "with the command shown.",
}


def apply_command(app: AppRef) -> str:
    words = ["passwordless", "apply", "--subscription", app.subscription, "-g", app.resource_group, "-n", app.site]
    words += ["--slot", app.slot] if app.slot else []
    return shlex.join(words)


def severity(audit: AppAudit) -> str:
    state = AuditState(audit.status)
    if state in (AuditState.CLEAN, AuditState.REMEDIATED):
        return "none"
    if state is AuditState.PENDING:
        return "low"
    if state is AuditState.ERROR:
        return "high"
    return min((KIND_SEVERITY[d.kind] for d in audit.drift), key=SEVERITY.index, default="medium")


def fix_for(audit: AppAudit) -> str | None:
    """The one command that brings the app back; an admin missing is fixed by the server's owner."""
    state = AuditState(audit.status)
    if state in (AuditState.CLEAN, AuditState.REMEDIATED):
        return None
    admin = next((d for d in audit.drift if d.kind is DriftKind.ADMIN_MISSING), None)
    if admin is not None:
        return admin_command(admin) or apply_command(audit.app)
    unrequested = [d for d in audit.drift if d.kind is DriftKind.PRIVILEGE_UNREQUESTED]
    if unrequested and len(unrequested) == len(audit.drift):  # an apply never detaches: say how to
        identities = [match.group(1) for d in unrequested if (match := UNREQUESTED.search(d.detail))]
        if identities:
            return detach_command(audit.app, identities)
    return apply_command(audit.app)


def detach_command(app: AppRef, identities: list[str]) -> str:
    """``az webapp identity remove`` (learn.microsoft.com/cli/azure/webapp/identity#az-webapp-identity-remove:
    ``--identities`` takes the user-assigned identity ids to remove)."""
    words = ["az", "webapp", "identity", "remove", "--resource-group", app.resource_group, "--name", app.site]
    words += ["--slot", app.slot] if app.slot else []
    return shlex.join([*words, "--identities", *identities])


def admin_command(drift: Drift) -> str | None:
    """The ``az`` command in an admin-missing finding (the message ends with it), if it has one."""
    start = drift.detail.find("az ")
    return drift.detail[start:] if start >= 0 else None
