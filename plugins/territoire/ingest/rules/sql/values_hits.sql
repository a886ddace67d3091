-- Rows whose value in {column} was judged bad by a Python validator (one verdict per distinct value).
select s._line_number, %(column_name)s::text, s.{column}, b.message
from {table} as s
join _rule_bad_values as b on b.value = s.{column}
