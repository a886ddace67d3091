-- Rows whose declared count ({column}) is not the number of rows of their group.
with v as (
    select _line_number, concat_ws('|', {group}) as grp, btrim({column}) as declared,
           count(*) over (partition by {group}) as rows_in_group
    from {table}
    where {group_not_empty}
)
select _line_number, %(column_name)s::text, declared,
       format('%%s = %%s mais le groupe %%s = %%s compte %%s ligne(s) dans le fichier',
              %(column_name)s::text, declared, %(group_label)s::text, grp, rows_in_group)
from v
where declared ~ '^[0-9]+(\.0+)?$' and declared::numeric <> rows_in_group
