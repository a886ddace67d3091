-- The open API's login role. It reads `published` through the analysts' group role (whose grants
-- every publication renews) and the quality history, nothing else; PostgreSQL itself enforces its
-- limits whatever the API's code does: read-only transactions, a statement timeout, a work_mem and a
-- connection limit. Run by territoire.api.role.ensure_api_role (idempotent); the names in braces are
-- filled with quoted identifiers and literals by psycopg.sql.
alter role {role} login inherit connection limit {connection_limit};
grant {group} to {role};
alter role {role} set default_transaction_read_only = on;
alter role {role} set statement_timeout = {statement_timeout};
alter role {role} set work_mem = {work_mem};
alter role {role} set idle_in_transaction_session_timeout = '60s';
alter role {role} set lock_timeout = '5s';
grant usage on schema quality to {role};
grant select on quality.validation_runs, quality.validation_results to {role};
