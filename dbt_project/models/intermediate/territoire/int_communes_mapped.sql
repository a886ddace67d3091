{#- Maps every commune code ever published (current, delegated, associated, municipal
    arrondissement, or removed since) to its commune in the current COG (var cog_millesime).

    Rule:
    1. a current commune (TYPECOM COM) maps to itself; a current commune déléguée/associée or
       arrondissement municipal (COMD, COMA, ARM) maps to its parent (COMPARENT);
    2. any other code follows the INSEE history: at the last date the code appears as "before"
       in mouvements-communes, its successors are the "after" codes other than itself (merger,
       commune nouvelle, code change, absorption...). Successors are followed transitively until a
       current code (step 1) is reached; cycles and chains longer than 20 steps are cut;
    3. a code whose history ends on several current communes (a commune removed and shared out,
       event 30: 6 codes in the 2026 history) goes to the successor whose name contains the old
       name (Moronvilliers -> Pontfaverger-Moronvilliers), else to the lowest code; it is flagged
       `correspondance_multiple` and lists every candidate;
    4. a code whose history ends with no current commune stays unmapped, with its reason: removed
       without successor (Saint-Barthélemy 97123 and Saint-Martin 97127 left the COG communes in
       2007 to become the overseas collectivities 977/978) or reaching an overseas collectivity.
-#}
{{ config(materialized='table') }}

with recursive

mouvements as (
    select * from {{ ref('stg_cog__mouvements_communes') }}
),

communes_cog as (
    select * from {{ ref('stg_cog__communes') }}
),

collectivites_outremer as (
    select code_commune from {{ ref('stg_cog__collectivites_outremer') }}
),

-- step 1: codes of the current COG; a code listed both as COM and COMD is a commune first
actuels_candidats as (
    select code_commune as code, code_commune as code_actuel, 'commune_actuelle' as methode, 1 as priorite
    from communes_cog
    where type_commune = 'COM'
    union all
    select
        code_commune,
        code_commune_parente,
        case type_commune
            when 'ARM' then 'arrondissement_municipal'
            when 'COMD' then 'commune_deleguee'
            else 'commune_associee'
        end,
        2
    from communes_cog
    where type_commune in ('ARM', 'COMD', 'COMA')
),

actuels as (
    select distinct on (code) code, code_actuel, methode
    from actuels_candidats
    order by code, priorite
),

noms_actuels as (
    select code_commune, nom_commune from communes_cog where type_commune = 'COM'
),

-- step 2: the successors of a code at its last appearance as "before"
derniere_apparition as (
    select code_commune_avant as code, max(date_effet) as date_effet
    from mouvements
    where code_commune_avant is not null
    group by code_commune_avant
),

successeurs as (
    select distinct
        mouvements.code_commune_avant as code,
        mouvements.code_commune_apres as successeur
    from mouvements
    inner join derniere_apparition
        on mouvements.code_commune_avant = derniere_apparition.code
        and mouvements.date_effet = derniere_apparition.date_effet
    where mouvements.code_commune_apres <> mouvements.code_commune_avant
),

noms_historiques as (
    select distinct on (code_commune_avant) code_commune_avant as code, nom_commune_avant as nom
    from mouvements
    where code_commune_avant is not null
    order by code_commune_avant, date_effet desc
),

codes_historiques as (
    select code_commune_avant as code from mouvements where code_commune_avant is not null
    union
    select code_commune_apres from mouvements where code_commune_apres is not null
),

chemins as (
    select code as origine, code as courant, 0 as etapes, array[code] as parcourus
    from codes_historiques
    where code not in (select code from actuels)

    union all

    select chemins.origine, successeurs.successeur, chemins.etapes + 1, chemins.parcourus || successeurs.successeur
    from chemins
    inner join successeurs
        on successeurs.code = chemins.courant
    where chemins.courant not in (select code from actuels)
        and chemins.etapes < 20
        and not successeurs.successeur = any(chemins.parcourus)
),

aboutissements as (
    select
        chemins.origine,
        actuels.code_actuel,
        min(chemins.etapes) as etapes
    from chemins
    inner join actuels
        on chemins.courant = actuels.code
    group by chemins.origine, actuels.code_actuel
),

-- step 3: one current commune per historical code
aboutissements_classes as (
    select
        aboutissements.*,
        count(*) over (partition by aboutissements.origine) as nombre_candidats,
        string_agg(aboutissements.code_actuel, ',') over (
            partition by aboutissements.origine
            order by aboutissements.code_actuel
            rows between unbounded preceding and unbounded following
        ) as candidats,
        row_number() over (
            partition by aboutissements.origine
            order by
                (noms_actuels.nom_commune ilike '%' || noms_historiques.nom || '%') desc,
                aboutissements.code_actuel
        ) as rang
    from aboutissements
    left join noms_actuels
        on aboutissements.code_actuel = noms_actuels.code_commune
    left join noms_historiques
        on aboutissements.origine = noms_historiques.code
),

historiques as (
    select
        origine as code_commune_source,
        code_actuel as code_commune,
        'historique' as methode,
        etapes as nombre_etapes,
        nombre_candidats > 1 as correspondance_multiple,
        candidats,
        cast(null as text) as motif_non_resolu
    from aboutissements_classes
    where rang = 1
),

-- step 4: historical codes reaching no current commune
sans_successeur as (
    select
        codes_historiques.code as code_commune_source,
        cast(null as text) as code_commune,
        'non_resolu' as methode,
        cast(null as integer) as nombre_etapes,
        false as correspondance_multiple,
        cast(null as text) as candidats,
        case
            when exists (
                select 1
                from chemins
                inner join collectivites_outremer
                    on chemins.courant = collectivites_outremer.code_commune
                where chemins.origine = codes_historiques.code
            ) then 'collectivite_outre_mer'
            else 'commune_supprimee_sans_successeur'
        end as motif_non_resolu
    from codes_historiques
    where codes_historiques.code not in (select code from actuels)
        and codes_historiques.code not in (select code_commune_source from historiques)
),

courants as (
    select
        code as code_commune_source,
        code_actuel as code_commune,
        methode,
        0 as nombre_etapes,
        false as correspondance_multiple,
        cast(null as text) as candidats,
        cast(null as text) as motif_non_resolu
    from actuels
),

final as (
    select * from courants
    union all
    select * from historiques
    union all
    select * from sans_successeur
)

select * from final
