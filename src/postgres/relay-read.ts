/**
 * The snapshot-safe read of both relays (docs/relay.md, section 1; the CDC relay's catch-up
 * runs it too): at most `$3` rows of `outbox` (a quoted `schema.outbox`) beyond the cursor
 * `($1 xid, $2 id)` whose xid is below the snapshot's xmin, in `(xid, id)` order, as columns
 * `id`, `xid` (text), `topic`, `envelope`, plus `column` of the one-row subquery `from`.
 * When nothing is found, the LEFT JOIN still yields that one row, with the row columns null.
 */
export function readBeyondCursor(outbox: string, from: { readonly subquery: string; readonly column: string }): string {
  return `SELECT b.id::text AS id, b.xid::text AS xid, b.topic, b.envelope, ${from.column}
      FROM ${from.subquery}
      LEFT JOIN LATERAL (
        SELECT o.id, o.xid, o.topic, o.envelope FROM ${outbox} o
        WHERE (o.xid, o.id) > ($1::xid8, $2::bigint) AND o.xid < pg_snapshot_xmin(pg_current_snapshot())
        ORDER BY o.xid, o.id LIMIT $3
      ) b ON true
      ORDER BY b.xid, b.id`;
}
