-- When this database's schedule first ran (issue 10). Catch-up after downtime only runs fire times
-- from then on: a service started for the first time has missed nothing, so a new install does not
-- open with yesterday's (empty) digest.
CREATE TABLE schedule_since (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    since TEXT NOT NULL
);
