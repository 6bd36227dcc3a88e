//! The `GET /users` statements: pages and searches (see `list_users` in `users.rs`).
//!
//! Std-only on purpose: `xtask bench users` compiles this same file (`#[path]`) to `EXPLAIN`
//! exactly the statements the server prepares, without depending on this crate.

/// Qualified table names (`schema.prefix+table`).
pub struct ListingTables<'a> {
    pub aaru: &'a str,
    pub ep_t: &'a str,
    pub pl_t: &'a str,
    pub tp_t: &'a str,
    pub tp: &'a str,
    pub wa_t: &'a str,
}

impl ListingTables<'_> {
    /// A page of primary users. Parameters: $1 app, $2 tenant, $3 recipe ids (empty = all),
    /// with `cursor` $4 time joined and $5 user id to start from (inclusive), then the limit.
    ///
    /// Pages walk `all_auth_recipe_users_pagination_index1` (app, tenant, time joined DESC,
    /// primary id DESC) forwards or backwards: ordering and the cursor use the raw columns (no
    /// casts), and DISTINCT ON collapses the rows of one linked group, which are adjacent.
    pub fn page(&self, asc: bool, cursor: bool) -> String {
        let aaru = self.aaru;
        let (dir, op) = if asc { ("ASC", ">=") } else { ("DESC", "<=") };
        let (cursor_clause, limit) = if cursor {
            (
                format!(
                    " AND (a.primary_or_recipe_user_time_joined, a.primary_or_recipe_user_id) {op} \
                     ($4::BIGINT, ($5::TEXT)::CHAR(36))"
                ),
                "$6",
            )
        } else {
            (String::new(), "$4")
        };
        format!(
            "SELECT DISTINCT ON (a.primary_or_recipe_user_time_joined, a.primary_or_recipe_user_id) \
               a.primary_or_recipe_user_id::TEXT, a.primary_or_recipe_user_time_joined \
             FROM {aaru} a WHERE a.app_id = $1 AND a.tenant_id = $2 \
             AND (cardinality($3::TEXT[]) = 0 OR a.recipe_id = ANY($3::TEXT[])){cursor_clause} \
             ORDER BY a.primary_or_recipe_user_time_joined {dir}, a.primary_or_recipe_user_id {dir} \
             LIMIT {limit}"
        )
    }

    /// A search (the reference's query shape): each recipe's login methods of the tenant that
    /// match, at most $6 of them per recipe and whichever the scan finds first (no ORDER BY
    /// inside, so a common tag stops the scan early), then their primary users, de-duplicated,
    /// in order with ties by id descending. $1 app, $2 tenant, $3 e-mail, $4 phone, $5 provider
    /// LIKE patterns. Kinds combine with AND on one login method: a kind without tags (empty
    /// array) does not restrict, and a recipe without that kind of field cannot match it; those
    /// parameter-only conditions are one-time filters.
    pub fn search(&self, asc: bool) -> String {
        let ListingTables { aaru, ep_t, pl_t, tp_t, tp, wa_t } = *self;
        let (no_email, no_phone, no_provider) =
            ("cardinality($3::TEXT[]) = 0", "cardinality($4::TEXT[]) = 0", "cardinality($5::TEXT[]) = 0");
        let matches = |from: &str, cond: String| {
            format!(
                "(SELECT a.primary_or_recipe_user_id AS p, a.primary_or_recipe_user_time_joined AS t \
                   FROM {from} JOIN {aaru} a ON a.app_id = r.app_id AND a.tenant_id = r.tenant_id \
                   AND a.user_id = r.user_id \
                   WHERE r.app_id = $1 AND r.tenant_id = $2 AND {cond} LIMIT $6)"
            )
        };
        let parts = [
            matches(&format!("{ep_t} r"), format!("{no_phone} AND {no_provider} AND r.email LIKE ANY($3::TEXT[])")),
            matches(
                &format!("{pl_t} r"),
                format!(
                    "{no_provider} AND ({no_email} OR r.email LIKE ANY($3::TEXT[])) \
                     AND ({no_phone} OR r.phone_number LIKE ANY($4::TEXT[]))"
                ),
            ),
            matches(
                &format!("{tp_t} r JOIN {tp} u ON u.app_id = r.app_id AND u.user_id = r.user_id"),
                format!(
                    "{no_phone} AND ({no_email} OR u.email LIKE ANY($3::TEXT[])) \
                     AND ({no_provider} OR u.third_party_id LIKE ANY($5::TEXT[]))"
                ),
            ),
            matches(&format!("{wa_t} r"), format!("{no_phone} AND {no_provider} AND r.email LIKE ANY($3::TEXT[])")),
        ];
        format!(
            "SELECT DISTINCT ON (m.t, m.p) m.p::TEXT, m.t FROM ({}) m ORDER BY m.t {}, m.p DESC",
            parts.join(" UNION ALL "),
            if asc { "ASC" } else { "DESC" },
        )
    }
}
