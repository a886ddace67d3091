{#- Station codes and names trimmed (trailing spaces are published); commune codes published on
    4 digits (`9225`) get their leading zero back. -#}
with source as (
    select * from {{ source('atmo_occitanie', 'mesures_mensuelles') }}
),

renamed as (
    select
        objectid::integer as id_mesure,
        btrim(code_station) as code_station,
        btrim(nom_station) as nom_station,
        typologie,
        influence,
        {{ repair_code('insee_com', 5) }} as code_commune_source,
        nom_com as nom_commune,
        nom_poll as polluant,
        id_poll_ue as code_polluant_ue,
        valeur::numeric as valeur,
        unite,
        metrique,
        date_debut::timestamptz as debut_periode,
        date_fin::timestamptz as fin_periode,
        statut_valid::boolean as est_validee,
        x::double precision as longitude,
        y::double precision as latitude,
        _line_number as ligne_source,
        _loaded_at
    from source
)

select * from renamed
