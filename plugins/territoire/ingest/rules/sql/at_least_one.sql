-- Rows where none of the columns holds the expected value (e.g. a charging point without any plug type).
select _line_number, %(column_name)s::text, concat_ws('|', {columns_list}),
       format('aucune des colonnes %%s ne vaut %%L', %(column_name)s::text, %(equals)s::text)
from {table}
where not (lower(%(equals)s::text) = any (array[{columns_lower}]))
