-- Delta time travel by version: gold.customer_features as its first commit (version 0) left it,
-- customers and average charges per snapshot date. Any version listed by
-- DESCRIBE HISTORY gold.customer_features (history.sql) can replace the 0.
SELECT as_of_date,
       count(*)                        AS customers,
       round(avg(monthly_charges), 4)  AS avg_monthly_charges,
       round(avg(tenure_months), 4)    AS avg_tenure_months
FROM gold.customer_features VERSION AS OF 0
GROUP BY as_of_date
ORDER BY as_of_date;
