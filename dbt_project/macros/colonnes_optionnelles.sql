{#- Optional files and columns (GTFS and other standards where a producer may leave some out).

    `relation_existe(relation)`: true when the table exists (at execution time; true while parsing so
    that dbt records the source dependency).
    `colonne_optionnelle(relation, name, type='text')`: the column when the table has it, else a
    typed null under the same name, so a staging model keeps its contract whatever the producer sent.
    Call `source()` unconditionally and pass its result: that keeps the lineage. -#}
{% macro relation_existe(relation) -%}
    {%- if not execute -%}
        {{ return(true) }}
    {%- endif -%}
    {%- set found = adapter.get_relation(database=relation.database, schema=relation.schema,
                                         identifier=relation.identifier) -%}
    {{ return(found is not none) }}
{%- endmacro %}

{% macro colonnes_de(relation) -%}
    {%- if not execute or not relation_existe(relation) -%}
        {{ return([]) }}
    {%- endif -%}
    {{ return(adapter.get_columns_in_relation(relation) | map(attribute='name') | map('lower') | list) }}
{%- endmacro %}

{% macro colonne_optionnelle(relation, name, type='text') -%}
    {%- if name in colonnes_de(relation) -%}
        {{ adapter.quote(name) }}
    {%- else -%}
        cast(null as {{ type }})
    {%- endif -%}
{%- endmacro %}
