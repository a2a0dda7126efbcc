-- 0007: an index for filters on the app instance name.

-- appInstanceName lives in the document only; a filter on it (the name a client gave) read
-- every row through jsonb_path_exists. pgstore.InstanceColumns maps the attribute to this
-- expression, so that an equality filter reads its rows from the index, in page order.
CREATE INDEX app_instances_name_pos ON app_instances ((doc ->> 'appInstanceName'), pos);
