-- The features of one customer, one row per snapshot (as_of_date), newest first.
-- Variable: customer_id, e.g. beeline --hivevar customer_id=7590-VHVEG -f sql/queries/customer_features.sql
SELECT *
FROM gold.customer_features
WHERE customer_id = '${customer_id}'
ORDER BY as_of_date DESC;
