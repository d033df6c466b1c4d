-- The read-only role Grafana's data source logs in as (deploy/grafana/, docs/operations.md#grafana).
-- `citysense migrate` sets its password from CITYSENSE_GRAFANA_DB_PASSWORD; without one it cannot log in.
-- Nothing here names a table: SELECT on whatever the schema holds, and by default on what later
-- migrations create, so the grant survives a change of the storage model (readings as a view).
DO $$
BEGIN
    CREATE ROLE citysense_grafana LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- roles belong to the server, not the database: another database's migration made it
END
$$;
-- Belt and braces: even a statement Grafana is talked into cannot write, nor run forever.
ALTER ROLE citysense_grafana SET default_transaction_read_only = on;
ALTER ROLE citysense_grafana SET statement_timeout = '60s';
DO $$
BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO citysense_grafana', current_database());
END
$$;
GRANT USAGE ON SCHEMA public TO citysense_grafana;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO citysense_grafana;  -- tables, views and materialized views
-- Objects the migrating role creates from now on (a later migration's tables and views).
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO citysense_grafana;
