-- The last published quality run of each dataset: its run id and when it finished.
select distinct on (dataset_id) dataset_id, run_id, finished_at
from quality.validation_runs
where published
order by dataset_id, finished_at desc
