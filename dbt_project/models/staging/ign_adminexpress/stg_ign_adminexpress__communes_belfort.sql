{#- Codes are those of the 2018 geometry: int_communes_mapped brings them to the current COG.
    Without the raw table (IGN not loaded yet), no row: dim_territoire still builds from the COG
    alone (its areas are then null), as the territory reference must. -#}
{%- set relation = source('ign_adminexpress', 'communes_belfort') -%}
{%- if relation_existe(relation) %}
with source as (
    select * from {{ relation }}
),

renamed as (
    select
        code as code_commune_2018,
        nom as nom_commune_2018,
        geometry::jsonb as geometrie,
        _loaded_at
    from source
)

select * from renamed
{%- else %}
select
    cast(null as text) as code_commune_2018,
    cast(null as text) as nom_commune_2018,
    cast(null as jsonb) as geometrie,
    cast(null as timestamptz) as _loaded_at
where false
{%- endif %}
