-- Values of {column} outside the declared list; when only the case or accents differ, the message gives
-- the exact spelling to use.
with allowed as (select unnest(%(values)s::text[]) as value),
v as (select _line_number, btrim({column}) as val from {table} where nullif(btrim({column}), '') is not null)
select v._line_number, %(column_name)s::text, v.val,
       coalesce(format('%%L : écrire exactement %%L', v.val,
                       (select a.value from allowed a where lower(a.value) = lower(v.val) limit 1)),
                format('%%L n''est pas l''une des valeurs prévues (%%s)', v.val,
                       (select string_agg(a.value, ', ') from allowed a)))
from v
where not exists (select 1 from allowed a where a.value = v.val)
  and (not %(ignore_case)s::boolean or not exists (select 1 from allowed a where lower(a.value) = lower(v.val)))
