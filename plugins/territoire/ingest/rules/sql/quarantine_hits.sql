-- Every violation is counted; its value and own message are kept for the first N (setting TERRITOIRE_QUARANTINE_ROWS_KEPT) per
-- (rule, column) only, the others carry the rule's title (a bounded quarantine on a broken file).
insert into ingest.rejected_rows
    (batch_id, source_id, resource, line_number, column_name, rule, value, message, level)
select
    %(batch_id)s::bigint,
    %(source_id)s::text,
    %(resource)s::text,
    h.line_number,
    h.column_name,
    h.rule,
    case when h.n <= %(keep)s::integer then left(h.value, 1000) end,
    case when h.n <= %(keep)s::integer then h.message else t.title end,
    h.level
from (
    select _rule_hits.*, row_number() over (partition by rule, column_name order by line_number) as n
    from _rule_hits
) as h
join unnest(%(rule_ids)s::text[], %(titles)s::text[]) as t (id, title) on t.id = h.rule
