{#- The combination of `columns` is unique (like dbt_utils.unique_combination_of_columns, without a package to download). -#}
{% test unique_combination(model, columns) %}
select {{ columns | join(', ') }}, count(*) as occurrences
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
