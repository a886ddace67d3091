{%- set relation = source('transport', 'stops') -%}
with source as (
    select * from {{ relation }}
),

renamed as (
    select
        stop_id,
        {{ colonne_optionnelle(relation, 'stop_code') }} as code_arret,
        btrim(stop_name) as nom_arret,
        stop_lat::double precision as latitude,
        stop_lon::double precision as longitude,
        coalesce(nullif({{ colonne_optionnelle(relation, 'location_type') }}, ''), '0')::integer as type_emplacement,
        nullif({{ colonne_optionnelle(relation, 'parent_station') }}, '') as parent_station,
        _loaded_at
    from source
)

select * from renamed
