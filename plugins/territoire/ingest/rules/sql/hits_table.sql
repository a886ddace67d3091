-- Violations of this run, before they go to the quarantine (session-local).
create temp table if not exists _rule_hits (
    rule         text not null,
    level        text not null,
    line_number  bigint,
    column_name  text,
    value        text,
    message      text not null
);
truncate _rule_hits;
create temp table if not exists _rule_bad_values (value text not null, message text not null);
truncate _rule_bad_values;
