-- Each repeat of a key after its first line, naming that first line.
select _line_number, %(column_name)s::text, key_value,
       format('la clé %%s = %%s apparaît déjà ligne %%s', %(column_name)s::text, key_value, first_line)
from (
    select _line_number,
           concat_ws('|', {key}) as key_value,
           first_value(_line_number) over w as first_line,
           row_number() over w as n
    from {table}
    where {key_not_empty}
    window w as (partition by {key} order by _line_number)
) as d
where n > 1
