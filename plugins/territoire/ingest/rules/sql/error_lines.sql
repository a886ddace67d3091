-- Every line an error-level rule rejected (not only those whose content the quarantine keeps): the
-- loader deletes them from the new raw table. Session-local, rebuilt by each run of the rules.
drop table if exists _rule_error_lines;
create temp table _rule_error_lines as
    select distinct line_number from _rule_hits where level = 'error' and line_number is not null;
