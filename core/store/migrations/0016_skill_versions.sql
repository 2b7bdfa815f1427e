-- Effectiveness per skill version (issue 16): a task's skill is recorded with the content hash of the
-- SKILL.md it used (`version`, beside its `source`), so a skill replaced by another source or edited in
-- place starts its own record instead of inheriting its name's. Rows recorded before this have no
-- version (NULL): which text they used cannot be known any more, so they count in their name's
-- "before versions" bucket, shown apart by `openkoi skills show`, and no longer in the ranking.
ALTER TABLE task_skills ADD COLUMN version TEXT;
CREATE INDEX task_skills_version ON task_skills(skill, source, version);
