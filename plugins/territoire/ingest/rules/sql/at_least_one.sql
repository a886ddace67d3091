-- Rows where none of the columns holds the expected value (e.g. a charging point without any plug type),
-- or, without an expected value, where all of them are empty (Validata's one-of-required).
select _line_number, %(column_name)s::text, concat_ws('|', {columns_list}),
       case when %(equals)s::text is null
            then format('les colonnes %%s sont toutes vides : l''une d''elles doit être renseignée',
                        %(column_name)s::text)
            else format('aucune des colonnes %%s ne vaut %%L', %(column_name)s::text, %(equals)s::text) end
from {table}
where case when %(equals)s::text is null
           then array_remove(array[{columns_lower}], '') = '{}'::text[]
           else not (lower(%(equals)s::text) = any (array[{columns_lower}])) end
