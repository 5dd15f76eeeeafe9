"""Runtime configuration read from the Function App's settings (environment variables)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from provisioning.clouds import PUBLIC, Cloud, cloud_named
from provisioning.errors import InvalidRequest

PUBLIC_ARM_ENDPOINT = PUBLIC.resource_manager
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# Set to "True" by App Service itself when App Service Authentication is on for the app, and only
# then (Microsoft.Identity.Web, AppServicesAuthenticationInformation.cs: WEBSITE_AUTH_ENABLED). Only
# then does the platform strip a caller's own X-MS-CLIENT-PRINCIPAL header (Microsoft Learn, "Work
# with user identities in AuthN/AuthZ": external requests can't set these headers). Read-only, injected by
# the platform (Microsoft Learn, "Environment variables and app settings reference"). Compared as
# Identity.Web does: "true" ignoring case, and nothing else: not "1", not a padded value, which the
# platform never writes (a hand-made setting that looks almost right must not turn the check on).
AUTHENTICATION_SETTING = "WEBSITE_AUTH_ENABLED"


@dataclass(frozen=True)
class Config:
    catalog: str
    arm_endpoint: str = PUBLIC_ARM_ENDPOINT
    arm_scope: str = PUBLIC.arm_scope
    cloud: Cloud = PUBLIC  # token scopes of the databases, and the defaults of the two above
    function_object_id: str = ""
    subscriptions: tuple[str, ...] = ()
    tag_prefix: str = "passwordless"
    apply_role: str = "Passwordless.Apply"
    app_service_authentication: bool = False
    storage_connection: str = ""
    storage_blob_uri: str = ""
    storage_table_uri: str = ""
    outcome_topic_endpoint: str = ""
    audit_remediate: bool = False

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Config:
        env = os.environ if environ is None else environ
        catalog = env.get("PASSWORDLESS_CATALOG", "").strip()
        if not catalog:
            raise InvalidRequest(
                "setting PASSWORDLESS_CATALOG is empty: point it at the target catalog", field="PASSWORDLESS_CATALOG"
            )
        cloud = cloud_named(env.get("PASSWORDLESS_CLOUD", ""))
        endpoint = (env.get("PASSWORDLESS_ARM_ENDPOINT", "").strip() or cloud.resource_manager).rstrip("/")
        function_object_id = env.get("PASSWORDLESS_FUNCTION_OBJECT_ID", "").strip().lower()
        if not GUID.match(function_object_id):
            problem = f"{function_object_id!r} is not a GUID" if function_object_id else "is empty"
            raise InvalidRequest(
                f"setting PASSWORDLESS_FUNCTION_OBJECT_ID {problem}: set it to the object (principal) id of the "
                "function's managed identity (az functionapp identity show --query principalId)",
                field="PASSWORDLESS_FUNCTION_OBJECT_ID",
            )
        return cls(
            catalog=catalog,
            arm_endpoint=endpoint,
            arm_scope=env.get("PASSWORDLESS_ARM_SCOPE", "").strip() or cloud.arm_scope,
            cloud=cloud,
            function_object_id=function_object_id,
            subscriptions=tuple(
                s.strip().lower() for s in env.get("PASSWORDLESS_SUBSCRIPTIONS", "").split(",") if s.strip()
            ),
            tag_prefix=env.get("PASSWORDLESS_TAG_PREFIX", "passwordless").strip() or "passwordless",
            apply_role=env.get("PASSWORDLESS_APPLY_ROLE", "Passwordless.Apply").strip(),
            app_service_authentication=env.get(AUTHENTICATION_SETTING, "").lower() == "true",
            storage_connection=env.get("AzureWebJobsStorage", "").strip(),
            storage_blob_uri=env.get("AzureWebJobsStorage__blobServiceUri", "").strip(),
            storage_table_uri=env.get("AzureWebJobsStorage__tableServiceUri", "").strip(),
            outcome_topic_endpoint=env.get("PASSWORDLESS_OUTCOME_TOPIC_ENDPOINT", "").strip(),
            audit_remediate=_flag(env.get("PASSWORDLESS_AUDIT_REMEDIATE", ""), "PASSWORDLESS_AUDIT_REMEDIATE"),
        )


def _flag(value: str, name: str) -> bool:
    """``true`` or ``false`` (any case); empty is false. Anything else is refused, not guessed."""
    text = value.strip().lower()
    if text not in ("", "true", "false"):
        raise InvalidRequest(f"setting {name}: {value!r} is neither 'true' nor 'false'", field=name)
    return text == "true"
