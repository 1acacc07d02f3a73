-- Churn rate by contract type on the latest snapshot (features joined with labels).
WITH latest AS (
  SELECT max(as_of_date) AS as_of_date FROM gold.churn_labels
)
SELECT f.contract,
       count(*)                 AS customers,
       sum(l.churned)           AS churned,
       round(avg(l.churned), 4) AS churn_rate
FROM gold.customer_features AS f
JOIN gold.churn_labels AS l
  ON l.customer_id = f.customer_id AND l.as_of_date = f.as_of_date
JOIN latest
  ON f.as_of_date = latest.as_of_date
GROUP BY f.contract
ORDER BY f.contract;
