-- The rules' violations into quarantine, bounded as the schema checks' are: the first N of each
-- (rule, column) (setting TERRITOIRE_QUARANTINE_ROWS_KEPT) keep their line, value and own message;
-- every violation is counted in the rows returned (the ledger's `details.rejections`), one per
-- (rule, column, level): count, distinct lines, first line, its value and its message.
with numbered as (
    select h.*, row_number() over (partition by rule, column_name order by line_number) as n
    from _rule_hits h
),
kept as (
    insert into ingest.rejected_rows
        (batch_id, source_id, resource, line_number, column_name, rule, value, message, level)
    select %(batch_id)s::bigint, %(source_id)s::text, %(resource)s::text,
           line_number, column_name, rule, left(value, 1000), message, level
    from numbered
    where n <= %(keep)s::integer
    returning 1
)
select rule, column_name, level, count(*), count(distinct line_number),
       (array_agg(line_number order by n))[1],
       (array_agg(left(value, 1000) order by n))[1],
       (array_agg(message order by n))[1]
from numbered
group by rule, column_name, level
order by count(*) desc, rule, column_name;
