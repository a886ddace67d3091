-- The indicators of a territory and of the territories it belongs to, the most recent year of each
-- (indicator, category) any of them has, and France computed as the ratio of the sums over the
-- régions (never a mean of ratios), with the share of the French population the sources cover.
with territoires (niveau, code_territoire) as (
    select * from unnest(%(niveaux)s::text[], %(codes)s::text[])
),

lignes as (
    select i.*
    from published.indicateurs_territoriaux as i
    inner join territoires as t
        on i.niveau = t.niveau and i.code_territoire = t.code_territoire
),

dernieres as (
    select indicateur, categorie, max(annee) as annee
    from lignes
    group by indicateur, categorie
),

regions as (
    select i.*
    from published.indicateurs_territoriaux as i
    inner join dernieres as d
        on i.indicateur = d.indicateur and i.categorie = d.categorie and i.annee = d.annee
    where i.niveau = 'region'
),

france as (
    select
        'france' as niveau,
        'FR' as code_territoire,
        indicateur,
        categorie,
        annee,
        -- the multiplier of the definition (x 1 000, x 10 000...) read back from any row
        round((sum(numerateur) / nullif(sum(denominateur), 0)
               * power(10, round(log(max(abs(valeur * denominateur / nullif(numerateur, 0)))))))::numeric, 4)
            as valeur,
        max(unite) as unite,
        max(source) as source,
        sum(population * part_population_couverte)
            / nullif((select sum(population_municipale) from published.dim_territoire), 0)
            as part_population_couverte,
        max(millesime_population) as millesime_population
    from regions
    group by indicateur, categorie, annee
)

select l.niveau, l.code_territoire, l.indicateur, l.categorie, l.annee, l.valeur, l.unite, l.source,
       l.part_population_couverte, l.millesime_population
from lignes as l
inner join dernieres as d
    on l.indicateur = d.indicateur and l.categorie = d.categorie and l.annee = d.annee
union all
select * from france
order by indicateur, categorie
