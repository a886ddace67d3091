-- Every column of every table of `published`, in table order (the allow-list of identifiers).
select c.table_name, c.column_name, c.data_type
from information_schema.columns as c
where c.table_schema = 'published'
order by c.table_name, c.ordinal_position
