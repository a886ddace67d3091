{%- set relation = source('transport', 'routes') -%}
with source as (
    select * from {{ relation }}
),

renamed as (
    select
        route_id,
        coalesce({{ colonne_optionnelle(relation, 'agency_id') }}, '') as agency_id,
        {{ colonne_optionnelle(relation, 'route_short_name') }} as nom_court_ligne,
        {{ colonne_optionnelle(relation, 'route_long_name') }} as nom_long_ligne,
        route_type::integer as type_ligne,
        _loaded_at
    from source
)

select * from renamed
