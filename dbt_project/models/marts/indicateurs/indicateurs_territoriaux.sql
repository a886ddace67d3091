{#- Territorial indicators in long format, one row per (niveau, code_territoire, indicateur,
    categorie, annee), comparable between communes, EPCI, départements and régions.

    Each indicator (seed indicateurs_definitions) is `multiplicateur x sum(numerator measure) /
    denominator` over the territory, where the denominator is the population municipale of the
    territory (sum over its current communes, dim_territoire, populations légales of the COG
    vintage) or the sum of another measure. Measures are summed from the level they are known at
    (commune or département) up to every level above; a ratio is never averaged. -#}
with mesures as (
    select * from {{ ref('int_indicateurs_mesures') }}
),

definitions as (
    select * from {{ ref('indicateurs_definitions') }}
),

territoire as (
    select * from {{ ref('dim_territoire') }}
),

-- the territories each commune and each département belongs to
appartenances as (
    select 'commune' as niveau_source, code_commune as code_source, 'commune' as niveau, code_commune as code_territoire
    from territoire
    union all
    select 'commune', code_commune, 'epci', code_epci from territoire where code_epci is not null
    union all
    select 'commune', code_commune, 'departement', code_departement from territoire
    union all
    select 'commune', code_commune, 'region', code_region from territoire
    union all
    select distinct 'departement', code_departement, 'departement', code_departement from territoire
    union all
    select distinct 'departement', code_departement, 'region', code_region from territoire
),

populations as (
    select
        appartenances.niveau,
        appartenances.code_territoire,
        sum(territoire.population_municipale) as population
    from appartenances
    inner join territoire
        on appartenances.code_source = territoire.code_commune
    where appartenances.niveau_source = 'commune'
    group by appartenances.niveau, appartenances.code_territoire
),

-- the population of each territory a measure can be known at, to tell how much of a territory
-- the source covers (the Enedis sample covers Lyon 8e only, not all of Lyon)
populations_sources as (
    select 'commune' as niveau_source, code_territoire as code_source, population
    from populations
    where niveau = 'commune'
    union all
    select 'departement', code_territoire, population
    from populations
    where niveau = 'departement'
),

mesures_agregees as (
    select
        appartenances.niveau,
        appartenances.code_territoire,
        mesures.mesure,
        mesures.categorie,
        mesures.annee,
        sum(mesures.valeur) as valeur,
        sum(populations_sources.population) as population_territoires_sources
    from mesures
    inner join appartenances
        on mesures.niveau_source = appartenances.niveau_source
        and mesures.code_territoire = appartenances.code_source
    left join populations_sources
        on mesures.niveau_source = populations_sources.niveau_source
        and mesures.code_territoire = populations_sources.code_source
    group by 1, 2, 3, 4, 5
),

calcul as (
    select
        numerateur.niveau,
        numerateur.code_territoire,
        definitions.indicateur,
        numerateur.categorie,
        numerateur.annee,
        numerateur.valeur as numerateur,
        case
            when definitions.denominateur = 'population' then populations.population
            else denominateur.valeur
        end as denominateur,
        populations.population,
        numerateur.population_territoires_sources,
        definitions.multiplicateur,
        definitions.unite,
        definitions.source
    from definitions
    inner join mesures_agregees as numerateur
        on numerateur.mesure = definitions.mesure_numerateur
    left join populations
        on numerateur.niveau = populations.niveau
        and numerateur.code_territoire = populations.code_territoire
    left join mesures_agregees as denominateur
        on denominateur.mesure = definitions.denominateur
        and denominateur.niveau = numerateur.niveau
        and denominateur.code_territoire = numerateur.code_territoire
        and denominateur.categorie = numerateur.categorie
        and denominateur.annee = numerateur.annee
),

final as (
    select
        niveau,
        code_territoire,
        indicateur,
        categorie,
        annee,
        round((multiplicateur * numerateur / nullif(denominateur, 0))::numeric, 4) as valeur,
        unite,
        source,
        numerateur,
        denominateur,
        population,
        round((population_territoires_sources / nullif(population, 0))::numeric, 4) as part_population_couverte,
        -- zero versus no data: a row exists only where the source has data; `couverture` says whether
        -- that data covers the whole territory (then 0 is a real zero) or part of it only
        case
            when round((population_territoires_sources / nullif(population, 0))::numeric, 4) >= 1 then 'complete'
            else 'partielle'
        end as couverture,
        'populations légales du COG {{ var("cog_millesime") }}' as millesime_population
    from calcul
    where denominateur is not null and denominateur <> 0
)

select * from final
