-- 0006: indexes for large lists and for pruning.

-- Filtered lists are paged in creation order (ORDER BY pos): an index on (column, pos) serves
-- an equality filter on the column in page order, so a page reads its own rows instead of
-- walking every row from the marker on. They replace the single-column indexes of 0003.
DROP INDEX app_instances_site;
DROP INDEX app_instances_app_d_id;
DROP INDEX app_instances_app_pkg_id;
CREATE INDEX app_instances_site_pos ON app_instances (site_id, pos) WHERE site_id IS NOT NULL;
CREATE INDEX app_instances_app_d_id_pos ON app_instances (app_d_id, pos);
CREATE INDEX app_instances_app_pkg_id_pos ON app_instances (app_pkg_id, pos);
CREATE INDEX app_instances_state_pos ON app_instances (instantiation_state, pos);

DROP INDEX app_lcm_op_occs_instance;
CREATE INDEX app_lcm_op_occs_instance_pos ON app_lcm_op_occs (app_instance_id, pos);
CREATE INDEX app_lcm_op_occs_state_pos ON app_lcm_op_occs (state, pos);
CREATE INDEX app_lcm_op_occs_site_pos ON app_lcm_op_occs (site_id, pos) WHERE site_id IS NOT NULL;

-- Pruning (pgstore.Prune): op occurrences that ended, by when they ended, and journal
-- entries by their last change.
CREATE INDEX app_lcm_op_occs_ended ON app_lcm_op_occs (state_entered) WHERE state IN ('COMPLETED', 'FAILED');
CREATE INDEX task_journal_updated ON task_journal (updated);
