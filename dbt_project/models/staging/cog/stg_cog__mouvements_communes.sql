with source as (
    select * from {{ source('cog', 'mouvements_communes') }}
),

renamed as (
    select
        mod::integer as code_evenement,
        date_eff::date as date_effet,
        typecom_av as type_commune_avant,
        com_av as code_commune_avant,
        libelle_av as nom_commune_avant,
        typecom_ap as type_commune_apres,
        com_ap as code_commune_apres,
        libelle_ap as nom_commune_apres,
        _line_number as ligne_source,
        _loaded_at
    from source
)

select * from renamed
