DROP TABLE customer_subscriptions;
DROP TABLE customers;
