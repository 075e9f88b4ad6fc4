BEGIN TRANSACTION;
CREATE TABLE api_keys (
	id INTEGER NOT NULL, 
	name VARCHAR(64) NOT NULL, 
	prefix VARCHAR(16) NOT NULL, 
	key_hash VARCHAR(64) NOT NULL, 
	scopes VARCHAR(200) NOT NULL, 
	rate_per_second FLOAT, 
	created_at DATETIME NOT NULL, 
	revoked_at DATETIME, burst FLOAT, 
	PRIMARY KEY (id), 
	UNIQUE (name), 
	UNIQUE (key_hash)
);
INSERT INTO "api_keys" VALUES(1,'old','sk_old','h1','read score',NULL,'2024-05-01 00:00:00',NULL,NULL);
CREATE TABLE campaigns (
	id VARCHAR(64) NOT NULL, 
	dataset VARCHAR(64) NOT NULL, 
	name VARCHAR(200) NOT NULL, 
	control_share FLOAT NOT NULL, 
	max_coupons INTEGER, 
	max_value FLOAT, 
	audience TEXT NOT NULL, 
	issued_count INTEGER NOT NULL, 
	issued_value FLOAT NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE coupon_decisions (
	id INTEGER NOT NULL, 
	campaign_id VARCHAR(64) NOT NULL, 
	customer_id VARCHAR(64) NOT NULL, 
	arm VARCHAR(16) NOT NULL, 
	outcome VARCHAR(16) NOT NULL, 
	code VARCHAR(32), 
	coupon_id VARCHAR(64), 
	coupon_name VARCHAR(200), 
	value FLOAT NOT NULL, 
	min_spend FLOAT NOT NULL, 
	expected_value FLOAT, 
	reason TEXT NOT NULL, 
	created_at DATETIME NOT NULL, 
	redeemed_at DATETIME, 
	order_amount FLOAT, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_decision_campaign_customer UNIQUE (campaign_id, customer_id), 
	FOREIGN KEY(campaign_id) REFERENCES campaigns (id), 
	UNIQUE (code)
);
CREATE TABLE customer_cards (
	dataset VARCHAR(64) NOT NULL, 
	customer_id VARCHAR(64) NOT NULL, 
	last_transaction_id BIGINT NOT NULL, 
	card TEXT NOT NULL, 
	updated_at DATETIME NOT NULL, line_count INTEGER, 
	PRIMARY KEY (dataset, customer_id)
);
INSERT INTO "customer_cards" VALUES('ds','c1',3,'{"n": 3}','2024-05-04 00:00:00',3);
INSERT INTO "customer_cards" VALUES('ds','c2',4,'{"n": 1}','2024-05-04 00:00:00',1);
CREATE TABLE idempotency_keys (
	api_key_id BIGINT NOT NULL, 
	"key" VARCHAR(255) NOT NULL, 
	request_hash VARCHAR(64) NOT NULL, 
	status_code INTEGER NOT NULL, 
	response TEXT NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (api_key_id, "key")
);
CREATE TABLE schema_version (
	version INTEGER NOT NULL, 
	description VARCHAR(200) NOT NULL, 
	applied_at DATETIME NOT NULL, 
	PRIMARY KEY (version)
);
INSERT INTO "schema_version" VALUES(1,'API keys, received transactions, cached cards, campaigns and coupon decisions.','2026-12-06 16:44:39.173564');
INSERT INTO "schema_version" VALUES(2,'Line numbers unique per invoice, cards counting their lines, idempotency keys, per-key burst.','2026-12-06 16:44:39.175914');
CREATE TABLE transactions (
	id INTEGER NOT NULL, 
	dataset VARCHAR(64) NOT NULL, 
	customer_id VARCHAR(64) NOT NULL, 
	invoice_id VARCHAR(64) NOT NULL, 
	product_id VARCHAR(64), 
	date DATETIME NOT NULL, 
	quantity FLOAT, 
	unit_price FLOAT, 
	amount FLOAT NOT NULL, 
	received_at DATETIME NOT NULL, line_no INTEGER, 
	PRIMARY KEY (id)
);
INSERT INTO "transactions" VALUES(1,'ds','c1','API-20240501',NULL,'2024-05-01 10:00:00',NULL,NULL,5.0,'2024-05-04 00:00:00',NULL);
INSERT INTO "transactions" VALUES(2,'ds','c1','API-20240501',NULL,'2024-05-01 18:30:00',NULL,NULL,2.5,'2024-05-04 00:00:00',NULL);
INSERT INTO "transactions" VALUES(3,'ds','c1','INV9',NULL,'2024-05-02 09:00:00',NULL,NULL,7.0,'2024-05-04 00:00:00',1);
INSERT INTO "transactions" VALUES(4,'ds','c2','API-20240503',NULL,'2024-05-03 12:00:00',NULL,NULL,1.0,'2024-05-04 00:00:00',NULL);
CREATE INDEX ix_transactions_customer ON transactions (dataset, customer_id, id);
CREATE UNIQUE INDEX uq_transactions_invoice_line ON transactions (dataset, customer_id, invoice_id, line_no);
CREATE INDEX ix_idempotency_keys_created_at ON idempotency_keys (created_at);
COMMIT;
