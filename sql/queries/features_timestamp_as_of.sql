-- Delta time travel by time: gold.customer_features as it was at a point in time (UTC), per
-- snapshot date. Variable: as_of_ts, no earlier than the first commit in DESCRIBE HISTORY,
-- e.g. beeline --hivevar as_of_ts='2026-11-27 12:00:00' -f sql/queries/features_timestamp_as_of.sql
SELECT as_of_date,
       count(*)                        AS customers,
       round(avg(monthly_charges), 4)  AS avg_monthly_charges,
       round(avg(tenure_months), 4)    AS avg_tenure_months
FROM gold.customer_features TIMESTAMP AS OF '${as_of_ts}'
GROUP BY as_of_date
ORDER BY as_of_date;
