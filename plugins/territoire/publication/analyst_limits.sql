-- The analysts' limits, enforced whatever an analyst sets in their session (see roles.py and
-- docs/analysts.md). statement_timeout and idle_in_transaction_session_timeout are role defaults an
-- analyst may change with SET; this function, run by the platform every few seconds (the
-- `platform_maintenance` DAG, or `territoire.publication.roles.watch_analysts`), stops what they
-- would otherwise let through:
--   - a query of a member of the group role running longer than p_statement is cancelled;
--   - a session of one idle in a transaction longer than p_idle is terminated (its transaction
--     holds locks that would make the publication swap, then every reader, wait).
-- Returns what it stopped. The caller needs pg_signal_backend (or superuser) and pg_read_all_stats.
create or replace function quality.enforce_analyst_limits(p_group text, p_statement interval, p_idle interval)
returns table (pid integer, usename text, action text, running interval, query text)
language sql volatile
as $$
    with analysts as (
        select a.pid, a.usename::text, a.state, a.query,
               clock_timestamp() - a.query_start as running, clock_timestamp() - a.state_change as idle
          from pg_stat_activity a
         where a.backend_type = 'client backend'
           and a.pid <> pg_backend_pid()
           and pg_has_role(a.usesysid, p_group, 'member')
           and not (select r.rolsuper from pg_roles r where r.oid = a.usesysid)
    )
    select x.pid, x.usename, 'cancelled', x.running, left(x.query, 300) from analysts x
     where x.state = 'active' and x.running > p_statement and pg_cancel_backend(x.pid)
    union all
    select x.pid, x.usename, 'terminated', x.idle, left(x.query, 300) from analysts x
     where x.state in ('idle in transaction', 'idle in transaction (aborted)') and x.idle > p_idle
       and pg_terminate_backend(x.pid)
$$;

revoke all on function quality.enforce_analyst_limits(text, interval, interval) from public;
