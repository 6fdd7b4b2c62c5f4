-- v3: what finance reads. `reserves_current`: the current run of every as_of_date (history
-- of what was in force); `reserves_latest`: the current run of the latest as_of_date, one
-- row per warehouse and period; `reserves_totals_latest`: its region and network totals.
CREATE VIEW reserves_current AS
SELECT r.*
FROM reserves r
JOIN publications p ON p.as_of_date = r.as_of_date AND p.run_id = r.run_id
WHERE p.is_current = TRUE;

CREATE VIEW reserves_latest AS
SELECT *
FROM reserves_current
WHERE as_of_date = (SELECT MAX(as_of_date) FROM publications WHERE is_current = TRUE);

CREATE VIEW reserves_totals_latest AS
SELECT t.*
FROM reserves_totals t
JOIN publications p ON p.as_of_date = t.as_of_date AND p.run_id = t.run_id
WHERE p.is_current = TRUE
  AND t.as_of_date = (SELECT MAX(as_of_date) FROM publications WHERE is_current = TRUE);
