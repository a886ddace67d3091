{#- Station measurements by station x pollutant x period (annual and monthly). Concentrations
    published in mg/m3 (CO) are also given in µg/m3 so every pollutant compares in one unit. -#}
with mesures as (
    select * from {{ ref('stg_atmo_occitanie__mesures_annuelles') }}
    union all
    select * from {{ ref('stg_atmo_occitanie__mesures_mensuelles') }}
),

communes_mapped as (
    select * from {{ ref('int_communes_mapped') }}
),

territoire as (
    select * from {{ ref('dim_territoire') }}
),

final as (
    select
        mesures.code_station,
        mesures.polluant,
        mesures.metrique as periodicite,
        mesures.debut_periode,
        mesures.fin_periode,
        extract(year from mesures.debut_periode at time zone 'Europe/Paris')::integer as annee,
        mesures.nom_station,
        mesures.typologie,
        mesures.influence,
        territoire.code_commune,
        territoire.code_epci,
        territoire.code_departement,
        territoire.code_region,
        mesures.code_commune_source,
        mesures.valeur,
        mesures.unite,
        case mesures.unite
            when 'mg.m-3' then mesures.valeur * 1000
            when 'ug.m-3' then mesures.valeur
        end as valeur_ug_m3,
        mesures.est_validee,
        mesures.longitude,
        mesures.latitude,
        mesures._loaded_at
    from mesures
    left join communes_mapped
        on mesures.code_commune_source = communes_mapped.code_commune_source
    left join territoire
        on communes_mapped.code_commune = territoire.code_commune
)

select * from final
