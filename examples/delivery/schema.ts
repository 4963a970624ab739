/**
 * The delivery service's tables, the same in every zone's database (table replication refuses
 * tables that differ). Each replicated table has a primary key and REPLICA IDENTITY FULL.
 * - `dishes`, `quota_leases`: global (written by the core zone only);
 * - `orders`: sharded — the id `o<shard>-…` carries the shard of the restaurant's geo-fence;
 * - `menus`: global; a trigger marked ENABLE ALWAYS notifies `delivery_menus` on every change,
 *   the zone's own and (unlike ordinary triggers) those table replication applies from the WAL;
 * - `quota_epochs`: not replicated (which global epochs this zone held the core role at).
 */
export const DELIVERY_DDL = `
  CREATE TABLE IF NOT EXISTS dishes (id text PRIMARY KEY, name text NOT NULL, stock int NOT NULL);
  ALTER TABLE dishes REPLICA IDENTITY FULL;
  CREATE TABLE IF NOT EXISTS quota_leases (id text PRIMARY KEY, dish text NOT NULL, zone text NOT NULL,
    amount int NOT NULL, ends_at bigint NOT NULL, returned_used int);
  ALTER TABLE quota_leases REPLICA IDENTITY FULL;
  CREATE INDEX IF NOT EXISTS quota_leases_dish ON quota_leases (dish);
  CREATE TABLE IF NOT EXISTS orders (id text PRIMARY KEY, shard int NOT NULL, epoch int NOT NULL,
    zone text NOT NULL, user_id text NOT NULL, restaurant text NOT NULL, dish text NOT NULL, qty int NOT NULL,
    lease text NOT NULL, state text NOT NULL, version int NOT NULL, updated_at bigint NOT NULL);
  ALTER TABLE orders REPLICA IDENTITY FULL;
  CREATE INDEX IF NOT EXISTS orders_dish ON orders (dish);
  CREATE INDEX IF NOT EXISTS orders_user ON orders (user_id);
  CREATE TABLE IF NOT EXISTS menus (restaurant text PRIMARY KEY, items jsonb NOT NULL, version int NOT NULL);
  ALTER TABLE menus REPLICA IDENTITY FULL;
  CREATE OR REPLACE FUNCTION delivery_menu_changed() RETURNS trigger LANGUAGE plpgsql AS $f$
  BEGIN
    PERFORM pg_notify('delivery_menus', CASE WHEN TG_OP = 'DELETE' THEN OLD.restaurant ELSE NEW.restaurant END);
    RETURN NULL;
  END $f$;
  CREATE OR REPLACE TRIGGER delivery_menu_changed AFTER INSERT OR UPDATE OR DELETE ON menus
    FOR EACH ROW EXECUTE FUNCTION delivery_menu_changed();
  -- ALWAYS: it fires for table replication's applies too (they run as session_replication_role = replica)
  ALTER TABLE menus ENABLE ALWAYS TRIGGER delivery_menu_changed;
  -- not replicated: the global epochs this zone has held the core role at (the quota fence)
  CREATE TABLE IF NOT EXISTS quota_epochs (epoch int PRIMARY KEY, fence_until bigint NOT NULL);
`;

/** The `replication.tables` entries that make these tables active-active (topology YAML, flow style). */
export const DELIVERY_TABLES_YAML =
  "[{ name: dishes, class: global }, { name: menus, class: global }, { name: quota_leases, class: global }, { name: orders, class: sharded, shard: { pattern: '^o(?<shard>\\d+)-' }, conflict: lock }]";
