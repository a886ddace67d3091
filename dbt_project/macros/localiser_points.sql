{#- Point-in-polygon without PostGIS: `localiser_points(points, niveau)` returns, for each row of
    the relation or CTE `points` (columns `id_point`, `longitude`, `latitude`), the `code` of the
    contour of `niveau` ('commune' or 'departement') containing it, by the even-odd rule: a
    horizontal ray from the point crosses the contour's edges an odd number of times. Points on
    no contour get no row. Contours are in int_contours_segments. -#}
{% macro localiser_points(points, niveau) -%}
    select
        points.id_point,
        segments.code
    from {{ points }} as points
    inner join {{ ref('int_contours_segments') }} as segments
        on segments.niveau = '{{ niveau }}'
        and (segments.y1 > points.latitude) <> (segments.y2 > points.latitude)
        and points.longitude < (segments.x2 - segments.x1) * (points.latitude - segments.y1)
            / (segments.y2 - segments.y1) + segments.x1
    group by points.id_point, segments.code
    having count(*) % 2 = 1
{%- endmacro %}
