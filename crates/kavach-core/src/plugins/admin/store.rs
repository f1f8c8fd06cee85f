//! Every query of the admin capability.

use super::UserQuery;
use crate::audit::{self, Event, EventKind};
use crate::error::{Code, Error, Result};
use crate::store::{BeginWrite, Db, Ts};
use crate::users::{USER_COLUMNS, User, user_from_row};
use crate::{RequestContext, db};
use sqlx::Row;

/// `LIKE` pattern text with `\`, `%` and `_` escaped (used with `ESCAPE '\'`).
fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

fn bad(msg: &str) -> Error {
    Error::bad_request(Code::ValidationError, msg.to_owned())
}

/// Search, filter, sort and page users. Column names come from fixed lists only; every
/// value is bound.
pub(super) async fn list_users(db: &Db, q: &UserQuery) -> Result<(Vec<User>, i64)> {
    let mut conditions: Vec<String> = Vec::new();
    let mut binds: Vec<String> = Vec::new();
    if let Some(v) = q.search_value.as_deref().filter(|v| !v.is_empty()) {
        if v.len() > 256 {
            return Err(bad("searchValue is too long"));
        }
        let column = match q.search_field.as_deref().unwrap_or("email") {
            "email" => "email",
            "name" => "name",
            _ => return Err(bad("searchField: email or name")),
        };
        let v = like_escape(&v.to_lowercase());
        let pattern = match q.search_operator.as_deref().unwrap_or("contains") {
            "contains" => format!("%{v}%"),
            "starts_with" => format!("{v}%"),
            "ends_with" => format!("%{v}"),
            _ => return Err(bad("searchOperator: contains, starts_with or ends_with")),
        };
        binds.push(pattern);
        conditions.push(format!("LOWER({column}) LIKE ${} ESCAPE '\\'", binds.len()));
    }
    let mut bool_filter: Option<(&str, bool, bool)> = None;
    if let (Some(field), Some(value)) = (q.filter_field.as_deref(), q.filter_value.as_deref()) {
        let equal = match q.filter_operator.as_deref().unwrap_or("eq") {
            "eq" => true,
            "ne" => false,
            _ => return Err(bad("filterOperator: eq or ne")),
        };
        match field {
            "role" => {
                binds.push(value.to_owned());
                let n = binds.len();
                // Users without a role have the default one, `user`.
                conditions.push(if equal { format!("COALESCE(role, 'user') = ${n}") } else { format!("COALESCE(role, 'user') <> ${n}") });
            }
            "banned" | "emailVerified" => {
                let v = match value {
                    "true" => true,
                    "false" => false,
                    _ => return Err(bad("filterValue: true or false")),
                };
                bool_filter = Some((if field == "banned" { "banned" } else { "email_verified" }, v, equal));
            }
            _ => return Err(bad("filterField: role, banned or emailVerified")),
        }
    }
    let bool_index = binds.len() + 1;
    if let Some((column, _, equal)) = bool_filter {
        conditions.push(format!("{column} {} ${bool_index}", if equal { "=" } else { "<>" }));
    }
    let sort = match q.sort_by.as_deref().unwrap_or("createdAt") {
        "createdAt" => "created_at",
        "updatedAt" => "updated_at",
        "email" => "email",
        "name" => "name",
        _ => return Err(bad("sortBy: createdAt, updatedAt, email or name")),
    };
    let direction = match q.sort_direction.as_deref().unwrap_or("desc") {
        "asc" => "ASC",
        "desc" => "DESC",
        _ => return Err(bad("sortDirection: asc or desc")),
    };
    let limit = q.limit.unwrap_or(100);
    let offset = q.offset.unwrap_or(0);
    if !(0..=1000).contains(&limit) || offset < 0 {
        return Err(bad("limit is 0 to 1000 and offset at least 0"));
    }
    let filter = if conditions.is_empty() { String::new() } else { format!(" WHERE {}", conditions.join(" AND ")) };
    let next = bool_index + usize::from(bool_filter.is_some());
    let sql = format!("SELECT {USER_COLUMNS} FROM kavach_user{filter} ORDER BY {sort} {direction}, id LIMIT ${next} OFFSET ${}", next + 1);
    let count_sql = format!("SELECT COUNT(*) FROM kavach_user{filter}");
    db!(db, |pool| {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        let mut count = sqlx::query_as::<_, (i64,)>(sqlx::AssertSqlSafe(count_sql));
        for b in &binds {
            query = query.bind(b);
            count = count.bind(b);
        }
        if let Some((_, v, _)) = bool_filter {
            query = query.bind(v);
            count = count.bind(v);
        }
        let rows = query.bind(limit).bind(offset).fetch_all(pool).await?;
        let (total,) = count.fetch_one(pool).await?;
        let users: Result<Vec<User>> = rows.iter().map(|r| Ok(user_from_row!(r))).collect();
        Ok((users?, total))
    })
}

pub(super) async fn set_role(db: &Db, id: &str, role: &str, by: Option<&str>, ctx: &RequestContext) -> Result<()> {
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        let n = sqlx::query("UPDATE kavach_user SET role = $1, updated_at = $2 WHERE id = $3")
            .bind(role)
            .bind(Ts::now())
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(Error::not_found(Code::UserNotFound, "No such user"));
        }
        audit::append_in_tx!(tx, Event::new(EventKind::UserRoleChanged, Some(id), ctx).with("role", role).with_some("adminId", by));
        tx.commit().await?;
    });
    Ok(())
}

pub(super) async fn set_email_verified(db: &Db, id: &str, verified: bool, by: Option<&str>, ctx: &RequestContext) -> Result<()> {
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        sqlx::query("UPDATE kavach_user SET email_verified = $1, updated_at = $2 WHERE id = $3")
            .bind(verified)
            .bind(Ts::now())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        audit::append_in_tx!(tx, Event::new(EventKind::UserUpdated, Some(id), ctx).with("emailVerified", verified).with_some("adminId", by));
        tx.commit().await?;
    });
    Ok(())
}

/// Replace (or create) the user's credential account password.
pub(super) async fn set_password(db: &Db, id: &str, hash: &str, by: Option<&str>, ctx: &RequestContext) -> Result<()> {
    let now = Ts::now();
    db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        crate::users::upsert_credential!(tx, id, hash, now);
        audit::append_in_tx!(tx, Event::new(EventKind::UserPasswordSet, Some(id), ctx).with_some("adminId", by));
        tx.commit().await?;
    });
    Ok(())
}
