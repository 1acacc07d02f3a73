-- Top churn-risk segments: churn rate by contract x internet service on the latest snapshot.
-- Features joined with labels on (customer_id, as_of_date); segments of at least 5 customers,
-- highest churn rate first.
WITH latest AS (
  SELECT max(as_of_date) AS as_of_date FROM gold.churn_labels
)
SELECT f.contract,
       f.internet_service,
       count(*)                 AS customers,
       sum(l.churned)           AS churned,
       round(avg(l.churned), 4) AS churn_rate
FROM gold.customer_features AS f
JOIN gold.churn_labels AS l
  ON l.customer_id = f.customer_id AND l.as_of_date = f.as_of_date
JOIN latest
  ON f.as_of_date = latest.as_of_date
GROUP BY f.contract, f.internet_service
HAVING count(*) >= 5
ORDER BY churn_rate DESC, customers DESC, f.contract, f.internet_service
LIMIT 10;
