with source as (
    select * from {{ source('velo_paris', 'comptages') }}
),

renamed as (
    select
        identifiant_du_compteur as id_compteur,
        nom_du_compteur as nom_compteur,
        identifiant_du_site_de_comptage as id_site,
        nom_du_site_de_comptage as nom_site,
        comptage_horaire::numeric as comptage,
        date_et_heure_de_comptage::timestamptz as debut_periode,
        date_et_heure_de_comptage::timestamptz + interval '1 hour' as fin_periode,
        date_d_installation_du_site_de_comptage::date as date_installation,
        split_part(coordonnees_geographiques, ',', 1)::double precision as latitude,
        split_part(coordonnees_geographiques, ',', 2)::double precision as longitude,
        _line_number as ligne_source,
        _loaded_at
    from source
)

select * from renamed
