{#- Statistical secrecy (secret statistique): an aggregate built from fewer than `threshold` units
    (delivery points, dwellings, establishments...) is not published.

    statistical_secrecy(count_column, threshold, masked_columns, flag=none) expands to one select
    item per masked column, `case when <count> >= <threshold> then <column> end as <column>`, and,
    when `flag` names a column, a boolean `<flag>` true on masked rows. A null count is treated as
    below the threshold: when the number of units is unknown, nothing is shown.

        select
            annee,
            code_iris,
            nombre_logements,
            {{ statistical_secrecy('nombre_logements', 10, ['consommation_totale_mwh']) }}
        from par_iris

    The rule is declared once more in catalog/datasets.yml (`secrecy:`), which the quality gate and
    the export check on the built table: a model that forgets this macro cannot be published. -#}
{% macro statistical_secrecy(count_column, threshold, masked_columns, flag=none) -%}
    {%- if threshold is not number or threshold < 1 or threshold != threshold | int -%}
        {{ exceptions.raise_compiler_error(
            "statistical_secrecy in model " ~ model.name ~ ": threshold must be a positive integer, got "
            ~ threshold) }}
    {%- endif -%}
    {%- if masked_columns is string or not masked_columns -%}
        {{ exceptions.raise_compiler_error(
            "statistical_secrecy in model " ~ model.name ~ ": masked_columns must be a non-empty list of "
            ~ "columns, got " ~ masked_columns) }}
    {%- endif -%}
    {%- for column in masked_columns -%}
        {{ secrecy_mask(column, count_column, threshold) }} as {{ column.split('.')[-1] }}
        {%- if not loop.last or flag %},
    {% endif -%}
    {%- endfor -%}
    {%- if flag -%}
        coalesce({{ count_column }} < {{ threshold | int }}, true) as {{ flag }}
    {%- endif -%}
{%- endmacro %}


{#- The masked value of one expression: shown only when `count_column` reaches the threshold. -#}
{% macro secrecy_mask(expression, count_column, threshold) -%}
    case when {{ count_column }} >= {{ threshold | int }} then {{ expression }} end
{%- endmacro %}
