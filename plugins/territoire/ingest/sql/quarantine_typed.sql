-- The rows of the new raw table that break a Table Schema rule, into quarantine: the content (line,
-- value) of the first {kept} rows of each (column, rule); the counts of all of them are returned.
-- {new}: the new raw table, whose `_rejected` holds the indexes of the rules each row breaks;
-- {rules}: a VALUES list (idx, col, rule, message) of those rules.
with broken as (
    select n._line_number, r.col, r.rule, r.message, r.idx,
           row_number() over (partition by r.idx order by n._line_number) as nth
    from {new} n
    cross join lateral unnest(n._rejected) as x(idx)
    join (values {rules}) r(idx, col, rule, message) on r.idx = x.idx
    where n._rejected is not null
),
kept as (
    insert into ingest.rejected_rows (batch_id, source_id, resource, line_number, column_name, rule, value, message)
    select %(batch_id)s, %(source_id)s, %(resource)s, b._line_number, b.col, b.rule,
           left(to_jsonb(n) ->> b.col, 1000), b.message
    from broken b join {new} n on n._line_number = b._line_number
    where b.nth <= {kept}
    returning 1
)
select col, rule, count(*), min(_line_number), (array_agg(message order by _line_number))[1],
       (select count(*) from kept)
from broken group by idx, col, rule order by 3 desc;
