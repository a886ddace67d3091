{#- `publication_lock()`: a transaction-level advisory lock on this model's name, the same key that
    territoire.publication.publish.dataset_lock holds while the quality gate validates and publishes
    the table. A rebuild of a mart waits for a publication of it in progress to finish, and a
    publication waits for a rebuild to commit: the version GX validated is the version published. -#}
{% macro publication_lock() -%}
    select pg_advisory_xact_lock(hashtext('territoire.publication'), hashtext('{{ this.identifier }}'))
{%- endmacro %}
