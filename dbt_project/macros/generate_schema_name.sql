{#- Models land in exactly the schema their folder declares (staging, intermediate, audit), not in
    `<target schema>_<custom schema>`: the platform's schemas are fixed names that the loader,
    the quality gate and the analysts' role rely on. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
