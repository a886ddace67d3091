-- {column} left empty on a row where {condition_column} is set (or has the given value).
select _line_number, %(column_name)s::text, {column},
       format('%%s est vide alors que %%s = %%L', %(column_name)s::text, %(condition_name)s::text, {condition_column})
from {table}
where nullif(btrim({column}), '') is null
  and nullif(btrim({condition_column}), '') is not null
  and (%(equals)s::text is null or lower(btrim({condition_column})) = lower(%(equals)s::text))
