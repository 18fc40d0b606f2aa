-- shipping's schema. platform/postgres.Migrate has created it already (it
-- keeps schema_migrations there); the statement keeps this file runnable on
-- its own. The service's tables follow in later files, one change each.
CREATE SCHEMA IF NOT EXISTS shipping;
