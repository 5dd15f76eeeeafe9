"""The control surface: changes made by "someone else" — a person in the portal — and reads of state.

Tests and the demo use it to create drift and to look behind the API. Changes act as a fixed human
user and emit the events Azure would, so the product sees them as it would see a colleague's.
Every operation is also served as JSON under `/_emulator/...` (no auth), for other processes.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any

from emulator.errors import ArmError, bad_request
from emulator.estate import DEFAULT_LINUX_FX_VERSION, Estate, Principal, Site, key, new_uuid
from emulator.events import Actor, EventLog
from emulator.server import ArmRequest, ArmResponse, RecordedRequest, RequestLog, Route
from emulator.sites import API_VERSION, operation_name, site_json, write_app_settings
from emulator.tokens import TokenIssuer

_ARM = "https://management.azure.com"

# The person behind control-surface changes; the client id is the Azure portal's application id.
HUMAN_USER = Principal(
    object_id="6f1d2c3b-8e4a-4b5c-9d7e-2a1b0c9d8e7f",
    client_id="c44b4083-3bb0-49c1-b47d-974e53cbdf3c",
    name="Platform Engineer",
)


class ControlSurface:
    identity_endpoint: str  # set by the running emulator

    def __init__(self, estate: Estate, events: EventLog, issuer: TokenIssuer, requests: RequestLog) -> None:
        self._estate = estate
        self._events = events
        self._issuer = issuer
        self._requests = requests

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every ARM and token request served so far, oldest first (`RecordedRequest`s)."""
        return self._requests.snapshot()

    def clear_requests(self) -> None:
        self._requests.clear()

    def keep_bodies(self, enabled: bool = True) -> None:
        """Keep (or stop keeping) the JSON bodies of requests and answers in `requests`, as
        `RecordedRequest.body` and `.answer`."""
        self._requests.keep_bodies = enabled

    @property
    def events(self) -> list[dict[str, Any]]:
        """Copies of the Event Grid-schema events emitted so far, oldest first."""
        return self._events.snapshot()

    def clear_events(self) -> None:
        self._events.clear()

    def create_site(
        self,
        subscription_id: str,
        resource_group: str,
        name: str,
        *,
        tags: dict[str, str] | None = None,
        linux_fx_version: str = DEFAULT_LINUX_FX_VERSION,
        app_settings: dict[str, str] | None = None,
        slot: str | None = None,
        kind: str = "app,linux",
    ) -> str:
        """Create a web app, or a deployment slot of an existing one, without managed identity
        (the resource group too, if new); returns its id."""
        with self._estate.lock:
            group = self._estate.ensure_group(subscription_id, resource_group, "westeurope")
            site = Site(
                group.subscription_id,
                group.name,
                name,
                group.location,
                tags=dict(tags or {}),
                linux_fx_version=linux_fx_version,
                app_settings=dict(app_settings or {}),
                slot=slot,
                kind=kind,
            )
            if slot is not None:
                self._estate.find(self._estate.sites, site.site_id)  # a slot needs its site
            if key(site.id) in self._estate.sites:
                raise ArmError(409, "Conflict", f"The site '{site.id}' already exists.")
            self._estate.add_site(site)
            self._events.emit(self._actor("PUT", site.id), site.id, operation_name(site, "write"))
            return site.id

    def set_tags(self, resource_id: str, tags: dict[str, str]) -> None:
        """Replace a site's or slot's tags through the Tags API (`Microsoft.Resources/tags/write`)."""
        with self._estate.lock:
            site = self._estate.find(self._estate.sites, resource_id)
            site.tags = dict(tags)
            tags_id = f"{site.id}/providers/Microsoft.Resources/tags/default"
            self._events.emit(self._actor("PUT", tags_id), tags_id, "Microsoft.Resources/tags/write")

    def delete_site(self, resource_id: str) -> None:
        """Delete a site (with its slots) or a slot."""
        with self._estate.lock:
            site = self._estate.find(self._estate.sites, resource_id)
            self._estate.remove_site(site)
            self._events.emit(self._actor("DELETE", site.id), site.id, operation_name(site, "delete"))

    def attach_user_identity(self, resource_id: str, identity_id: str) -> None:
        """Attach an existing user-assigned identity by hand (the others stay attached)."""
        with self._estate.lock:
            site = self._estate.find(self._estate.sites, resource_id)
            identity = self._estate.find(self._estate.user_identities, identity_id)
            if all(key(attached) != key(identity.id) for attached in site.user_identities):
                site.user_identities.append(identity.id)
            self._events.emit(self._actor("PATCH", site.id), site.id, operation_name(site, "write"))

    def detach_user_identity(self, resource_id: str, identity_id: str) -> None:
        """Detach a user-assigned identity by hand (the others stay attached)."""
        with self._estate.lock:
            site = self._estate.find(self._estate.sites, resource_id)
            site.user_identities = [rid for rid in site.user_identities if key(rid) != key(identity_id)]
            self._events.emit(self._actor("PATCH", site.id), site.id, operation_name(site, "write"))

    def disable_system_identity(self, resource_id: str) -> None:
        self._replace_system_identity(resource_id, None)

    def recreate_system_identity(self, resource_id: str) -> None:
        """New principal and client ids, as when an app is deleted and created again under its name."""
        self._replace_system_identity(resource_id, self._estate.mint_principal())

    def set_app_setting(self, resource_id: str, name: str, value: str | None) -> None:
        """Set one app setting, or remove it when `value` is None (the rest are kept)."""
        with self._estate.lock:
            site = self._estate.find(self._estate.sites, resource_id)
            settings = dict(site.app_settings)
            if value is None:
                settings.pop(name, None)
            else:
                settings[name] = value
            write_app_settings(site, settings, self._events, self._actor("PUT", site.id))

    def site(self, resource_id: str) -> dict[str, Any]:
        """The site or slot as ARM's GET returns it."""
        with self._estate.lock:
            return site_json(self._estate.find(self._estate.sites, resource_id), self._estate)

    def app_settings(self, resource_id: str) -> dict[str, str]:
        with self._estate.lock:
            return dict(self._estate.find(self._estate.sites, resource_id).app_settings)

    def identity_of(self, resource_id: str) -> tuple[str, str] | None:
        """(principal id, client id) of the site's or slot's system identity, None when it has none."""
        with self._estate.lock:
            identity = self._estate.find(self._estate.sites, resource_id).system_identity
            return None if identity is None else (identity.object_id, identity.client_id)

    def database_endpoint(self, server_id: str) -> tuple[str, int]:
        """(host, port) of the real local database server behind an emulated flexible server."""
        with self._estate.lock:
            server = self._estate.find(self._estate.postgres_servers, server_id)
            return server.fqdn, server.port

    # -- RBAC targets: assignments made by hand, app identities, data seeded and read back ---------
    def assign_role(self, scope: str, role: str, principal_id: str, *, principal_type: str = "ServicePrincipal") -> str:
        """A role assignment made by a person in the portal (a random name, as the portal picks); its id."""
        from emulator.authorization import RoleAssignment, now_text

        with self._estate.lock:
            subscription = scope.strip("/").split("/")[1]
            assignment = RoleAssignment(
                scope=scope,
                name=new_uuid(),
                role_definition_id=f"/subscriptions/{subscription}/providers/Microsoft.Authorization/roleDefinitions/{role}",
                principal_id=principal_id,
                principal_type=principal_type,
                created_by=HUMAN_USER.object_id,
                created_on=now_text(),
            )
            if assignment.role is None:
                raise ArmError(400, "RoleDefinitionDoesNotExist", f"The role definition '{role}' does not exist.")
            self._estate.role_assignments[key(assignment.id)] = assignment
            return assignment.id

    def remove_role_assignment(self, assignment_id: str) -> None:
        """Delete a role assignment by hand, as a person in the portal would."""
        with self._estate.lock:
            self._estate.find(self._estate.role_assignments, assignment_id)
            del self._estate.role_assignments[key(assignment_id)]

    def role_assignments(self, scope: str | None = None) -> list[dict[str, Any]]:
        """Every role assignment (at or below `scope` when given), as ARM's GET returns each."""
        from emulator.authorization import within

        with self._estate.lock:
            return [
                a.to_json() for a in self._estate.role_assignments.values() if scope is None or within(a.scope, scope)
            ]

    def app_identity_environment(self, resource_id: str) -> dict[str, str]:
        """What App Service gives the app itself: the identity endpoint and that app's own header."""
        with self._estate.lock:
            site = self._estate.find(self._estate.sites, resource_id)
        return {"IDENTITY_ENDPOINT": self.identity_endpoint, "IDENTITY_HEADER": self._issuer.site_header(site.id)}

    def set_secret(self, vault_id: str, name: str, value: str) -> None:
        with self._estate.lock:
            self._estate.find(self._estate.key_vaults, vault_id).secrets[name] = value

    def put_blob(self, account_id: str, container: str, name: str, data: bytes) -> None:
        with self._estate.lock:
            self._estate.find(self._estate.storage_accounts, account_id).containers[container][name] = data

    def resolved_app_settings(self, resource_id: str) -> dict[str, str]:
        """The settings as the app's environment would hold them: each Key Vault reference resolved with
        the identity App Service uses for references (`keyVaultReferenceIdentity`), or left as written
        when it cannot be (App Service then keeps the reference text and reports the failure)."""
        from emulator.dataplanes import DataPlanesApi, parse_reference, vault_named

        with self._estate.lock:
            site = self._estate.find(self._estate.sites, resource_id)
            principal = self._reference_principal(site)
            resolved = {}
            for name, value in site.app_settings.items():
                reference = parse_reference(value)
                resolved[name] = value
                if reference is None or principal is None:
                    continue
                try:
                    vault = vault_named(self._estate, reference[0])
                    resolved[name] = DataPlanesApi(self._estate, self._issuer).read_secret(
                        vault, reference[1], principal
                    )
                except ArmError:
                    continue
            return resolved

    def _reference_principal(self, site: Site) -> str | None:
        identity = site.key_vault_reference_identity
        if identity.lower() == "systemassigned":
            return site.system_identity.object_id if site.system_identity is not None else None
        attached = self._estate.user_identities.get(key(identity))
        if attached is None or all(key(i) != key(identity) for i in site.user_identities):
            return None
        return attached.principal.object_id

    def control_routes(self) -> list[Route]:
        """`/_emulator/...`: GET or DELETE `events` and `requests`; POST `{operation}` with the
        keyword arguments as a JSON object (`create-site`, `set-tags`, ...); GET `{operation}`
        with them as query parameters (`site?resource_id=...`)."""
        changes: dict[str, Callable[..., Any]] = {
            "create-site": self.create_site,
            "set-tags": self.set_tags,
            "delete-site": self.delete_site,
            "disable-system-identity": self.disable_system_identity,
            "recreate-system-identity": self.recreate_system_identity,
            "set-app-setting": self.set_app_setting,
            "assign-role": self.assign_role,
        }
        reads: dict[str, Callable[..., Any]] = {
            "site": self.site,
            "app-settings": self.app_settings,
            "identity-of": self.identity_of,
            "database-endpoint": self.database_endpoint,
            "role-assignments": self.role_assignments,
            "resolved-app-settings": self.resolved_app_settings,
        }

        def change(request: ArmRequest) -> ArmResponse:
            return ArmResponse(200, {"result": _call(changes, request.params["operation"], request.json_object())})

        def read(request: ArmRequest) -> ArmResponse:
            return ArmResponse(200, {"result": _call(reads, request.params["operation"], dict(request.query))})

        def clear(log: EventLog | RequestLog) -> Callable[[ArmRequest], ArmResponse]:
            def handler(_: ArmRequest) -> ArmResponse:
                log.clear()
                return ArmResponse(204)

            return handler

        return [
            Route("GET", "/_emulator/events", lambda _: ArmResponse(200, self.events), authenticated=False),
            Route("DELETE", "/_emulator/events", clear(self._events), authenticated=False),
            Route(
                "GET",
                "/_emulator/requests",
                lambda _: ArmResponse(200, [dataclasses.asdict(r) for r in self.requests]),
                authenticated=False,
            ),
            Route("DELETE", "/_emulator/requests", clear(self._requests), authenticated=False),
            Route("POST", "/_emulator/{operation}", change, authenticated=False),
            Route("GET", "/_emulator/{operation}", read, authenticated=False),
        ]

    def _replace_system_identity(self, resource_id: str, identity: Principal | None) -> None:
        with self._estate.lock:
            site = self._estate.find(self._estate.sites, resource_id)
            site.system_identity = identity
            self._events.emit(self._actor("PATCH", site.id), site.id, operation_name(site, "write"))

    def _actor(self, method: str, resource_id: str) -> Actor:
        return Actor(
            claims=self._issuer.claims_for(HUMAN_USER, f"{_ARM}/"),
            correlation_id=new_uuid(),
            method=method,
            url=f"{_ARM}{resource_id}?api-version={API_VERSION}",
        )


def _call(operations: dict[str, Callable[..., Any]], name: str, arguments: dict[str, Any]) -> Any:
    operation = operations.get(name)
    if operation is None:
        raise ArmError(404, "NotFound", f"No control operation '{name}'; known: {', '.join(sorted(operations))}.")
    try:
        inspect.signature(operation).bind(**arguments)
    except TypeError as error:
        raise bad_request(f"{name}: {error}") from error
    return operation(**arguments)
