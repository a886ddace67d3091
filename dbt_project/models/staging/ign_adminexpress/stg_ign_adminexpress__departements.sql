{#- Without the raw table (IGN not loaded yet), no row: dim_territoire and dim_departement still
    build from the COG alone (their areas are then null), as the territory reference must. -#}
{%- set relation = source('ign_adminexpress', 'departements') -%}
{%- if relation_existe(relation) %}
with source as (
    select * from {{ relation }}
),

renamed as (
    select
        code as code_departement,
        nom as nom_departement,
        geometry::jsonb as geometrie,
        _loaded_at
    from source
)

select * from renamed
{%- else %}
select
    cast(null as text) as code_departement,
    cast(null as text) as nom_departement,
    cast(null as jsonb) as geometrie,
    cast(null as timestamptz) as _loaded_at
where false
{%- endif %}
