CREATE TABLE alert (
	id INTEGER NOT NULL, 
	shop_id VARCHAR NOT NULL, 
	"key" VARCHAR NOT NULL, 
	active BOOLEAN NOT NULL, 
	message VARCHAR NOT NULL, 
	since DATETIME, 
	resolved_at DATETIME, 
	last_checked_at DATETIME, 
	notified_state VARCHAR, 
	notified_at DATETIME, 
	notify_error VARCHAR, 
	PRIMARY KEY (id), 
	UNIQUE (shop_id, "key")
);

CREATE INDEX ix_alert_shop_id ON alert (shop_id);

CREATE TABLE order_attempt (
	id INTEGER NOT NULL, 
	shop_id VARCHAR NOT NULL, 
	f360_order_id INTEGER NOT NULL, 
	at DATETIME, 
	outcome VARCHAR NOT NULL, 
	message VARCHAR, 
	workflow_id VARCHAR, 
	run_id VARCHAR, 
	tg_order_number VARCHAR, 
	PRIMARY KEY (id)
);

CREATE INDEX ix_order_attempt_f360_order_id ON order_attempt (f360_order_id);

CREATE INDEX ix_order_attempt_run_id ON order_attempt (run_id);

CREATE INDEX ix_order_attempt_shop_id ON order_attempt (shop_id);

CREATE TABLE order_link (
	id INTEGER NOT NULL, 
	shop_id VARCHAR NOT NULL, 
	f360_order_id INTEGER NOT NULL, 
	f360_number VARCHAR, 
	status VARCHAR NOT NULL, 
	tg_order_id INTEGER, 
	tg_order_number VARCHAR, 
	tg_customer_id INTEGER, 
	last_error VARCHAR, 
	attempts INTEGER NOT NULL, 
	f360_status VARCHAR, 
	changed_after_export BOOLEAN NOT NULL, 
	workflow_id VARCHAR, 
	completed_at DATETIME, 
	last_attempt_at DATETIME, 
	linked_at DATETIME, 
	updated_at DATETIME, 
	PRIMARY KEY (id), 
	UNIQUE (shop_id, f360_order_id)
);

CREATE INDEX ix_order_link_f360_number ON order_link (f360_number);

CREATE INDEX ix_order_link_f360_order_id ON order_link (f360_order_id);

CREATE INDEX ix_order_link_shop_id ON order_link (shop_id);

CREATE INDEX ix_order_link_status ON order_link (status);

CREATE TABLE product_link (
	id INTEGER NOT NULL, 
	shop_id VARCHAR NOT NULL, 
	sku VARCHAR NOT NULL, 
	tg_article_id INTEGER, 
	f360_product_id INTEGER, 
	status VARCHAR NOT NULL, 
	content_hash VARCHAR, 
	stock_quantity INTEGER, 
	active BOOLEAN NOT NULL, 
	last_error VARCHAR, 
	attempts INTEGER NOT NULL, 
	last_synced_at DATETIME, 
	updated_at DATETIME, 
	field_hashes_json VARCHAR, 
	stock_json VARCHAR, 
	reserved_quantity INTEGER NOT NULL, 
	stock_dirty BOOLEAN NOT NULL, 
	last_seen_at DATETIME, 
	retry_json VARCHAR, 
	PRIMARY KEY (id), 
	UNIQUE (shop_id, sku)
);

CREATE INDEX ix_product_link_shop_id ON product_link (shop_id);

CREATE INDEX ix_product_link_sku ON product_link (sku);

CREATE INDEX ix_product_link_status ON product_link (status);

CREATE INDEX ix_product_link_stock_dirty ON product_link (stock_dirty);

CREATE INDEX ix_product_link_tg_article_id ON product_link (tg_article_id);

CREATE TABLE sync_cursor (
	shop_id VARCHAR NOT NULL, 
	name VARCHAR NOT NULL, 
	value DATETIME, 
	updated_at DATETIME, 
	PRIMARY KEY (shop_id, name)
);

CREATE TABLE sync_run (
	id INTEGER NOT NULL, 
	shop_id VARCHAR NOT NULL, 
	kind VARCHAR NOT NULL, 
	workflow_id VARCHAR, 
	run_id VARCHAR, 
	status VARCHAR NOT NULL, 
	started_at DATETIME, 
	finished_at DATETIME, 
	counts_json VARCHAR NOT NULL, 
	errors_json VARCHAR NOT NULL, 
	PRIMARY KEY (id)
);

CREATE INDEX ix_sync_run_kind ON sync_run (kind);

CREATE INDEX ix_sync_run_run_id ON sync_run (run_id);

CREATE INDEX ix_sync_run_shop_id ON sync_run (shop_id);
