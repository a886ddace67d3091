{#- One row per (address, year). The sample was re-saved by pandas: the unnamed index column is
    dropped and float codes (`69.0`, `200046977.0`) are repaired. IRIS codes masked by Enedis
    (`69388xxxx`, secret statistique) are kept as published. -#}
with source as (
    select * from {{ source('enedis', 'consommation_residentielle_adresse') }}
),

renamed as (
    select
        annee::integer as annee,
        {{ repair_code('code_iris', 9) }} as code_iris,
        nom_iris,
        btrim(adresse) as adresse,
        {{ repair_code('code_commune', 5) }} as code_commune_source,
        nom_commune,
        {{ repair_code('code_epci', 9) }} as code_epci_source,
        {{ repair_code('code_departement', 2) }} as code_departement_source,
        {{ repair_code('code_region', 2) }} as code_region_source,
        segment_de_client as segment_client,
        nombre_de_logements::integer as nombre_logements,
        consommation_annuelle_totale_de_l_adresse_mwh::numeric as consommation_totale_mwh,
        consommation_annuelle_moyenne_par_site_de_l_adresse_mwh::numeric as consommation_moyenne_site_mwh,
        tri_des_adresses as tri_adresse,
        _line_number as ligne_source,
        _loaded_at
    from source
)

select * from renamed
