-- The Delta commit history of gold.customer_features: one row per version, newest first
-- (timestamp, operation, and userMetadata with the job and run date that wrote it).
DESCRIBE HISTORY gold.customer_features;
