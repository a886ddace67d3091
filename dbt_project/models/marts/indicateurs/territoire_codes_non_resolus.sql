{#- Every territorial code a fact could not place in the current geography, by source, with the
    reason and the number of rows concerned. The rows themselves stay in their fact with a null
    territorial code: nothing is dropped by a join. Reasons:
    - commune_supprimee_sans_successeur / collectivite_outre_mer: from int_communes_mapped;
    - collectivite_outre_mer: a commune or "département" code of an overseas collectivity
      (975, 977, 978, 984, 986, 987, 988, 989), not part of the COG communes;
    - code_postal: a postal code in an INSEE field (equal to the row's postal code when the source
      gives one, or a Paris/Lyon/Marseille postal code 750xx/690xx/130xx);
    - format_invalide: not a 5-character commune code;
    - code_inconnu: well-formed but in neither the COG nor its history;
    - hors_contours / departement_seulement: a point placed by coordinates on no contour, or on a
      département only (commune contours exist for Territoire de Belfort only). -#}
with communes_mapped as (
    select * from {{ ref('int_communes_mapped') }}
),

collectivites as (
    select code_commune, code_collectivite from {{ ref('stg_cog__collectivites_outremer') }}
),

codes_communes as (
    select 'enedis' as source, 'fct_consommation_electrique' as modele, code_commune_source as code,
        cast(null as text) as code_postal, count(*) as nombre_lignes
    from {{ ref('fct_consommation_electrique') }}
    where code_commune is null
    group by code_commune_source
    union all
    select 'irve', 'fct_points_de_charge', code_commune_source, max(code_postal), count(*)
    from {{ ref('fct_points_de_charge') }}
    where code_commune is null
    group by code_commune_source
    union all
    select 'ofgl', 'fct_budgets_communes', code_commune_source, null, count(*)
    from {{ ref('fct_budgets_communes') }}
    where code_commune is null
    group by code_commune_source
    union all
    select 'atmo_occitanie', 'fct_mesures_qualite_air', code_commune_source, null, count(*)
    from {{ ref('fct_mesures_qualite_air') }}
    where code_commune is null
    group by code_commune_source
),

communes_classees as (
    select
        codes_communes.source,
        codes_communes.modele,
        'commune' as niveau,
        coalesce(codes_communes.code, '') as code,
        case
            when codes_communes.code is null then 'code_absent'
            when communes_mapped.motif_non_resolu is not null then communes_mapped.motif_non_resolu
            when collectivites.code_commune is not null then 'collectivite_outre_mer'
            when codes_communes.code = codes_communes.code_postal
                or codes_communes.code ~ '^(750[0-9]{2}|6900[0-9]|130[0-9]{2})$' then 'code_postal'
            when codes_communes.code !~ '^[0-9][0-9AB][0-9]{3}$' then 'format_invalide'
            else 'code_inconnu'
        end as motif,
        codes_communes.nombre_lignes
    from codes_communes
    left join communes_mapped
        on codes_communes.code = communes_mapped.code_commune_source
    left join collectivites
        on codes_communes.code = collectivites.code_commune
),

departements as (
    select
        'sinoe' as source,
        'fct_tonnages_dechets' as modele,
        'departement' as niveau,
        code_departement_source as code,
        case
            when code_departement_source in (select code_collectivite from collectivites) then 'collectivite_outre_mer'
            else 'code_inconnu'
        end as motif,
        count(*) as nombre_lignes
    from {{ ref('fct_tonnages_dechets') }}
    where code_departement is null
    group by code_departement_source
),

points as (
    select
        'transport' as source,
        'fct_arrets_transport' as modele,
        'commune' as niveau,
        stop_id as code,
        case when code_departement is null then 'hors_contours' else 'departement_seulement' end as motif,
        1 as nombre_lignes
    from {{ ref('fct_arrets_transport') }}
    where code_commune is null
    union all
    select
        source,
        'fct_comptages_velo',
        'commune',
        id_compteur,
        case when max(code_departement) is null then 'hors_contours' else 'departement_seulement' end,
        count(*)
    from {{ ref('fct_comptages_velo') }}
    where code_commune is null
    group by source, id_compteur
),

final as (
    select * from communes_classees
    union all
    select * from departements
    union all
    select * from points
)

select * from final
