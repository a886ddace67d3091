-- Last successful load of any of a dataset's sources; an unchanged file counts (it was checked).
select max(finished_at)
from ingest.load_batches
where source_id = any(%s)
  and status in ('succeeded', 'skipped_unchanged')
