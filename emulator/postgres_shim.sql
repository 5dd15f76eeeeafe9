-- Local stand-in for the Azure-only Entra functions of Azure Database for PostgreSQL
-- flexible server (the "pgaadauth" extension), installed into database `postgres` of a
-- plain PostgreSQL so the product's one Azure-only seam runs unchanged against it.
--
-- Signatures, as documented on learn.microsoft.com ("Manage Microsoft Entra roles in Azure
-- Database for PostgreSQL", how-to-manage-azure-ad-users):
--   pgaadauth_create_principal_with_oid(roleName text, objectId text, objectType text,
--                                       isAdmin boolean, isMfa boolean) -> text
--     returns 'Created role for <roleName>'; objectType is user | group | service.
--   pgaadauth_list_principals(isAdminValue boolean)
--     -> TABLE(rolname name, principalType text, objectId text, tenantId text,
--              isMfa integer, isAdmin integer)
--     true: administrators only; false: every Entra-bound role. isMfa/isAdmin are 1 or 0.
-- The names are unquoted in Azure's DDL, so the result columns arrive lower-cased:
-- rolname, principaltype, objectid, tenantid, ismfa, isadmin. The 2023-2024 revisions of that
-- page spell the first column `rolname` (like pg_roles); a 2025 revision spells it `rolename`.
-- Public scripts written against real servers filter on both; this shim keeps `rolname`.
-- Callers that want to be robust read the first column by position.
--
-- Azure keeps the binding in a security label on the role; here a side table keyed by the
-- role's OID does that job, so a role dropped with DROP ROLE drops out of the listing, and a
-- new role reusing the name is not mistaken for the old binding.
--
-- Differences on purpose: a role name over 63 bytes is rejected instead of being truncated,
-- and a malformed object id or principal type is rejected, so callers' bugs surface here.
--
-- Run as a superuser; idempotent; safe to run concurrently (it serialises on a lock):
--   psql -h 127.0.0.1 -U postgres -d postgres -f emulator/postgres_shim.sql

BEGIN;

-- Serialises installs with each other and with emulator/postgres_local.py's set-up and reset.
SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('pgaadauth_shim'));

DO $guard$
BEGIN
    IF pg_catalog.current_database() <> 'postgres' THEN
        RAISE EXCEPTION 'install the pgaadauth shim into database "postgres", not "%"',
            pg_catalog.current_database();
    END IF;
    IF NOT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        RAISE EXCEPTION 'install the pgaadauth shim as a superuser, not "%"', current_user;
    END IF;
END
$guard$;

CREATE SCHEMA IF NOT EXISTS pgaadauth_shim;
REVOKE ALL ON SCHEMA pgaadauth_shim FROM PUBLIC;

CREATE TABLE IF NOT EXISTS pgaadauth_shim.principals (
    role_oid       oid PRIMARY KEY,
    role_name      name NOT NULL,          -- name at creation; listings use pg_roles' current name
    object_id      uuid NOT NULL,
    principal_type text NOT NULL CHECK (principal_type IN ('user', 'group', 'service')),
    tenant_id      text,
    is_mfa         boolean NOT NULL DEFAULT false,
    is_admin       boolean NOT NULL DEFAULT false,
    -- 'create_principal_with_oid' (made by the function) or 'administrator' (registered by
    -- the emulator's set-up); reset drops only the former, per creating administrator.
    origin         text NOT NULL CHECK (origin IN ('create_principal_with_oid', 'administrator')),
    created_by     name NOT NULL DEFAULT session_user,
    created_at     timestamptz NOT NULL DEFAULT pg_catalog.now()
);
REVOKE ALL ON pgaadauth_shim.principals FROM PUBLIC;

CREATE OR REPLACE FUNCTION public.pgaadauth_create_principal_with_oid(
    roleName text, objectId text, objectType text, isAdmin boolean, isMfa boolean)
RETURNS text
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_object_id uuid;
    v_type      text := lower(objectType);
    v_role_oid  oid;
    v_tenant_id text;
BEGIN
    IF roleName IS NULL OR roleName = '' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'pgaadauth_create_principal_with_oid: roleName must not be empty';
    END IF;
    IF octet_length(roleName) > 63 THEN
        RAISE EXCEPTION USING ERRCODE = 'name_too_long',
            MESSAGE = format('pgaadauth_create_principal_with_oid: role name %s is %s bytes; '
                             'PostgreSQL role names are at most 63 bytes',
                             quote_ident(roleName), octet_length(roleName));
    END IF;
    IF v_type IS NULL OR v_type NOT IN ('user', 'group', 'service') THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('pgaadauth_create_principal_with_oid: objectType %s is not one of '
                             'user, group, service', coalesce(quote_literal(objectType), 'NULL'));
    END IF;
    BEGIN
        v_object_id := objectId::uuid;
    EXCEPTION WHEN invalid_text_representation THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('pgaadauth_create_principal_with_oid: objectId %s is not a GUID',
                             quote_literal(objectId));
    END;
    IF v_object_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'pgaadauth_create_principal_with_oid: objectId must not be NULL';
    END IF;
    IF EXISTS (SELECT FROM pg_roles r WHERE r.rolname = roleName) THEN
        RAISE EXCEPTION USING ERRCODE = 'duplicate_object',
            MESSAGE = format('role %s already exists', quote_ident(roleName)),
            HINT = 'pgaadauth_create_principal_with_oid creates a new role; drop the existing '
                   'role first to bind the name to another object id';
    END IF;

    IF coalesce(isAdmin, false) THEN
        EXECUTE format('CREATE ROLE %I WITH LOGIN CREATEROLE CREATEDB', roleName);
    ELSE
        EXECUTE format('CREATE ROLE %I WITH LOGIN', roleName);
    END IF;
    SELECT r.oid INTO STRICT v_role_oid FROM pg_roles r WHERE r.rolname = roleName;

    -- Principals live in the tenant of the administrator creating them.
    SELECT p.tenant_id INTO v_tenant_id
      FROM pgaadauth_shim.principals p JOIN pg_roles r ON r.oid = p.role_oid
     WHERE r.rolname = session_user AND p.is_admin;

    -- Forget bindings of roles dropped since, so a reused OID cannot inherit one.
    DELETE FROM pgaadauth_shim.principals p
     WHERE NOT EXISTS (SELECT FROM pg_roles r WHERE r.oid = p.role_oid);
    INSERT INTO pgaadauth_shim.principals
        (role_oid, role_name, object_id, principal_type, tenant_id, is_mfa, is_admin, origin)
    VALUES (v_role_oid, roleName, v_object_id, v_type, v_tenant_id, coalesce(isMfa, false),
            coalesce(isAdmin, false), 'create_principal_with_oid');

    RETURN format('Created role for %s', roleName);
END
$function$;

CREATE OR REPLACE FUNCTION public.pgaadauth_list_principals(isAdminValue boolean)
RETURNS TABLE(rolname name, principalType text, objectId text, tenantId text,
              isMfa integer, isAdmin integer)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT r.rolname, p.principal_type, p.object_id::text, p.tenant_id,
           p.is_mfa::integer, p.is_admin::integer
      FROM pgaadauth_shim.principals p
      JOIN pg_roles r ON r.oid = p.role_oid
     WHERE NOT coalesce($1, false) OR p.is_admin
     ORDER BY r.rolname
$function$;

ALTER FUNCTION public.pgaadauth_create_principal_with_oid(text, text, text, boolean, boolean)
    OWNER TO CURRENT_USER;
ALTER FUNCTION public.pgaadauth_list_principals(boolean) OWNER TO CURRENT_USER;

-- Azure lets only Entra administrators call these; set-up grants EXECUTE to each of them.
REVOKE ALL ON FUNCTION public.pgaadauth_create_principal_with_oid(text, text, text, boolean, boolean)
    FROM PUBLIC;
REVOKE ALL ON FUNCTION public.pgaadauth_list_principals(boolean) FROM PUBLIC;

COMMIT;
