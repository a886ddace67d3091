{%- set relation = source('transport', 'agency') -%}
with source as (
    select * from {{ relation }}
),

renamed as (
    select
        coalesce({{ colonne_optionnelle(relation, 'agency_id') }}, '') as agency_id,
        agency_name as nom_reseau,
        agency_url as url_reseau,
        agency_timezone as fuseau_horaire,
        _loaded_at
    from source
)

select * from renamed
