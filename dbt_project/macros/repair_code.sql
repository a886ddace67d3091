{#- Territorial codes re-saved by spreadsheet tools arrive as floats (`69.0`, `200046977.0`) or
    lose their leading zero (`1001` for `01001`). `repair_code(col, width)` gives back the text code:
    trims, drops a `.0` suffix, and left-pads numeric codes to `width`. Corsican codes (2A, 2B) are
    kept as they are. -#}
{% macro repair_code(column, width) -%}
    case
        when nullif(btrim({{ column }}), '') is null then null
        when btrim({{ column }}) ~ '^[0-9]+(\.0+)?$'
            -- greatest(): lpad() truncates longer strings (`971` padded to 2 would become `97`).
            then lpad(split_part(btrim({{ column }}), '.', 1),
                      greatest({{ width }}, length(split_part(btrim({{ column }}), '.', 1))), '0')
        else upper(btrim({{ column }}))
    end
{%- endmacro %}
