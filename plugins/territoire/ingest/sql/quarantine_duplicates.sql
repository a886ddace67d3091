-- Rows repeating a key already seen on an earlier line: the first {kept} into quarantine (rule
-- `unique`), all of them deleted from the new raw table; returns their count and first example.
-- {new}: the new raw table; {key}: the key's quoted columns ({key_text}: as text); {not_null}: none is NULL.
with repeats as (
    select _line_number, array_to_string(array[{key_text}], '|') as value, first_line,
           row_number() over (order by _line_number) as nth
    from (select _line_number, {key}, first_value(_line_number) over w as first_line,
                 row_number() over w as n
          from {new}
          where ({key}) in (select {key} from {new} where {not_null} group by {key} having count(*) > 1)
          window w as (partition by {key} order by _line_number)) d
    where n > 1
),
kept as (
    insert into ingest.rejected_rows (batch_id, source_id, resource, line_number, column_name, rule, value, message)
    select %(batch_id)s, %(source_id)s, %(resource)s, _line_number, %(columns)s, 'unique', value,
           'clé en double (' || %(columns)s || ') : déjà vue ligne ' || first_line
           || ' ; garder une seule ligne par clé, ou corriger la clé'
    from repeats where nth <= {kept}
),
gone as (
    delete from {new} where _line_number in (select _line_number from repeats) returning 1
)
select (select count(*) from gone), min(_line_number), (array_agg(value order by _line_number))[1] from repeats;
