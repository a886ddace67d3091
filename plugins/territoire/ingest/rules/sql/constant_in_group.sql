-- Rows whose {column} differs from the value most rows of their group carry.
with v as (
    select _line_number, concat_ws('|', {group}) as grp, coalesce({column}, '') as val
    from {table}
    where {group_not_empty}
),
variants as (
    select grp, val, count(*) as n, min(_line_number) as first_line
    from v
    group by grp, val
),
ranked as (
    select variants.*,
           row_number() over (partition by grp order by n desc, first_line) as r,
           count(*) over (partition by grp) as kinds
    from variants
)
select v._line_number, %(column_name)s::text, v.val,
       format('valeur %%L alors que le groupe %%s = %%s a %%L sur %%s ligne(s) (dont la ligne %%s)',
              v.val, %(group_label)s::text, v.grp, m.val, m.n, m.first_line)
from v
join ranked as m on m.grp = v.grp and m.r = 1 and m.kinds > 1
where v.val <> m.val
