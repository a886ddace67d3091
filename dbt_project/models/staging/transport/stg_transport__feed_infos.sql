{#- feed_info.txt is optional in GTFS (the RTM export has none): without it, no row. -#}
{%- set relation = source('transport', 'feed_info') -%}
{%- if relation_existe(relation) %}
with source as (
    select * from {{ relation }}
),

renamed as (
    select
        {{ colonne_optionnelle(relation, 'feed_publisher_name') }} as editeur,
        {{ colonne_optionnelle(relation, 'feed_version') }} as version_flux,
        to_date(nullif({{ colonne_optionnelle(relation, 'feed_start_date') }}, ''), 'YYYYMMDD') as date_debut,
        to_date(nullif({{ colonne_optionnelle(relation, 'feed_end_date') }}, ''), 'YYYYMMDD') as date_fin,
        _loaded_at
    from source
)

select * from renamed
{%- else %}
select
    cast(null as text) as editeur,
    cast(null as text) as version_flux,
    cast(null as date) as date_debut,
    cast(null as date) as date_fin,
    cast(null as timestamptz) as _loaded_at
where false
{%- endif %}
