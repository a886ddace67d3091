{#- `placer_points(points)`: places each row of the relation or CTE `points` (columns `id_point`,
    `longitude`, `latitude`, coordinates not null) in its territory, for data that gives coordinates
    and no commune (GTFS stops, bike counters). One row per point: `id_point`, `code_commune`,
    `code_departement`, `methode_localisation`:
    - `contour_commune`: inside a commune contour (macro localiser_points; only Territoire de Belfort
      has commune contours in the shipped IGN sample);
    - else `departement_commune_unique`: the département containing the point has a single commune
      (Paris), that commune;
    - else `contour_departement`: the département only (commune null, reported in
      territoire_codes_non_resolus);
    - else `hors_contours`: on no contour (at sea, coordinates swapped). -#}
{% macro placer_points(points) -%}
    with dans_commune as (
        {{ localiser_points(points, 'commune') }}
    ),

    dans_departement as (
        {{ localiser_points(points, 'departement') }}
    ),

    communes_uniques as (
        select code_departement, min(code_commune) as code_commune
        from {{ ref('dim_territoire') }}
        group by code_departement
        having count(*) = 1
    )

    select
        points.id_point,
        coalesce(dans_commune.code, communes_uniques.code_commune) as code_commune,
        dans_departement.code as code_departement,
        case
            when dans_commune.code is not null then 'contour_commune'
            when communes_uniques.code_commune is not null then 'departement_commune_unique'
            when dans_departement.code is not null then 'contour_departement'
            else 'hors_contours'
        end as methode_localisation
    from {{ points }} as points
    left join dans_commune
        on points.id_point = dans_commune.id_point
    left join dans_departement
        on points.id_point = dans_departement.id_point
    left join communes_uniques
        on dans_departement.code = communes_uniques.code_departement
{%- endmacro %}
