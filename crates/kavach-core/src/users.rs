//! Users: the `kavach_user` table and the operations on it that need no
//! authentication context (the CLI and the Rust API use them directly).

use crate::error::{Code, Error, Result};
use crate::sessions::Session;
use crate::store::BeginWrite;
use crate::store::{Db, Ts};
use crate::{Core, RequestContext, audit, db};
use serde::Serialize;
use sqlx::Row;

/// A user, serialised the way better-auth's clients expect.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: String,
    pub email_verified: bool,
    pub image: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Ts,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Ts,
    /// Present (true) only for banned users.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub banned: bool,
    /// When a ban ends (none: permanent).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ban_expires: Option<Ts>,
    /// Why the user is banned (shown only while banned).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ban_reason: Option<String>,
    /// The platform role (`[admin]`): `admin` names the operators. Absent: the default role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Two-factor authentication is on (`[two_factor]`): sign-ins need a second factor.
    /// Present (true) only when on.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub two_factor_enabled: bool,
    /// The username (`[username]`), normalised to lower case; absent when none is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The username as the user spelled it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_username: Option<String>,
    /// An anonymous user (`[anonymous]`): no credential, a placeholder address. Present
    /// (true) only for them.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub is_anonymous: bool,
    /// The phone number (`[phone_number]`), in E.164 form; absent when none is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    /// A code sent to the phone number proved it (present, true, only then).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub phone_number_verified: bool,
    /// The additional fields (`[user.additional_fields]`), as members of the user object.
    #[serde(flatten)]
    #[schema(ignore)]
    pub fields: serde_json::Map<String, serde_json::Value>,
}

impl User {
    /// Is the user banned at `now` (a ban with an end in the past no longer counts)?
    pub fn is_banned(&self, now: Ts) -> bool {
        ban_in_force(self.banned, self.ban_expires, now)
    }
}

/// A ban counts until its end (none: for good).
pub(crate) fn ban_in_force(banned: bool, until: Option<Ts>, now: Ts) -> bool {
    banned && until.is_none_or(|end| end > now)
}

macro_rules! user_from_row {
    ($r:expr) => {
        $crate::users::User {
            id: $r.try_get("id")?,
            email: $r.try_get("email")?,
            name: $r.try_get("name")?,
            email_verified: $r.try_get("email_verified")?,
            image: $r.try_get("image")?,
            created_at: $r.try_get("created_at")?,
            updated_at: $r.try_get("updated_at")?,
            // A ban whose end has passed no longer counts (nor shows).
            banned: $crate::users::ban_in_force($r.try_get("banned")?, $r.try_get("ban_expires")?, $crate::store::Ts::now()),
            ban_expires: $r.try_get("ban_expires")?,
            ban_reason: if $crate::users::ban_in_force($r.try_get("banned")?, $r.try_get("ban_expires")?, $crate::store::Ts::now()) {
                $r.try_get("ban_reason")?
            } else {
                None
            },
            role: $r.try_get("role")?,
            two_factor_enabled: $r.try_get("two_factor_enabled")?,
            username: $r.try_get("username")?,
            display_username: $r.try_get("display_username")?,
            is_anonymous: $r.try_get("is_anonymous")?,
            phone_number: $r.try_get("phone_number")?,
            phone_number_verified: $r.try_get("phone_number_verified")?,
            fields: $crate::fields::parse($r.try_get::<Option<String>, _>("additional_fields")?.as_deref()),
        }
    };
}

/// The columns `user_from_row!` reads, each behind `$p` (a table alias such as `"u."`).
macro_rules! user_columns {
    ($p:literal) => {
        concat!(
            $p,
            "id, ",
            $p,
            "email, ",
            $p,
            "name, ",
            $p,
            "email_verified, ",
            $p,
            "image, ",
            $p,
            "created_at, ",
            $p,
            "updated_at, ",
            $p,
            "banned, ",
            $p,
            "ban_expires, ",
            $p,
            "ban_reason, ",
            $p,
            "role, ",
            $p,
            "two_factor_enabled, ",
            $p,
            "username, ",
            $p,
            "display_username, ",
            $p,
            "is_anonymous, ",
            $p,
            "phone_number, ",
            $p,
            "phone_number_verified, ",
            $p,
            "additional_fields"
        )
    };
}

/// The user columns, in the order `user_from_row!` reads them by name.
pub(crate) const USER_COLUMNS: &str = user_columns!("");

/// [`USER_COLUMNS`] of the table aliased `u`.
pub(crate) const USER_COLUMNS_U: &str = user_columns!("u.");
pub(crate) use user_from_row;

/// Within transaction `$tx`: the user's credential account holds the password hash
/// `$hash` (created when they had none, replaced otherwise).
macro_rules! upsert_credential {
    ($tx:expr, $user_id:expr, $hash:expr, $now:expr) => {
        sqlx::query(
            "INSERT INTO kavach_account (id, user_id, provider_id, provider_account_id, password, created_at, updated_at) \
             VALUES ($1, $2, 'credential', $2, $3, $4, $4) \
             ON CONFLICT (provider_id, provider_account_id) DO UPDATE SET password = excluded.password, updated_at = excluded.updated_at",
        )
        .bind($crate::crypto::new_id())
        .bind($user_id)
        .bind($hash)
        .bind($now)
        .execute(&mut *$tx)
        .await?
    };
}
pub(crate) use upsert_credential;

/// Normalise and validate an email address: trimmed, lower-cased, one `@`,
/// a dot-free-or-not domain without spaces. Deliverability is proven by verification.
pub fn normalize_email(raw: &str) -> Result<String> {
    let e = raw.trim().to_lowercase();
    let bad = || Error::bad_request(Code::InvalidEmail, "Invalid email address");
    // Invisible and bidirectional formatting characters would let one address pass for another.
    if e.len() > 254 || e.chars().any(|c| c.is_whitespace() || c.is_control() || crate::text::is_invisible_or_bidi(c)) {
        return Err(bad());
    }
    let (local, domain) = e.split_once('@').ok_or_else(bad)?;
    if local.is_empty() || local.len() > 64 || domain.is_empty() || domain.contains('@') {
        return Err(bad());
    }
    if domain.starts_with('.') || domain.ends_with('.') || domain.contains("..") || domain.starts_with('-') {
        return Err(bad());
    }
    Ok(e)
}

pub(crate) fn check_name(name: &str) -> Result<()> {
    if name.chars().count() > 256 || name.chars().any(|c| c.is_control()) {
        return Err(Error::bad_request(Code::InvalidName, "Name must be at most 256 printable characters"));
    }
    Ok(())
}

pub(crate) fn check_image(image: &str) -> Result<()> {
    if image.len() > 2048 || image.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(Error::bad_request(Code::InvalidImage, "Image must be a URL of at most 2048 characters"));
    }
    Ok(())
}

/// New user fields for [`Users::create`].
#[derive(Clone, Debug, Default)]
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub password: Option<String>,
    pub email_verified: bool,
    pub image: Option<String>,
}

/// Changes to a user's additional fields, and who asks.
#[derive(Clone, Copy)]
pub(crate) enum Fields<'a> {
    /// A request's body: only fields with `input = true`.
    Request(&'a serde_json::Map<String, serde_json::Value>),
    /// The Rust API: any declared field.
    Server(&'a serde_json::Map<String, serde_json::Value>),
}

/// Operations on users, for the CLI, admins and embedders: `kavach.users()`.
pub struct Users<'a>(pub(crate) &'a Core);

impl Users<'_> {
    pub async fn get(&self, id: &str) -> Result<Option<User>> {
        find_by_id(&self.0.db, id).await
    }

    pub async fn get_by_email(&self, email: &str) -> Result<Option<User>> {
        let email = normalize_email(email)?;
        find_by_email(&self.0.db, &email).await
    }

    /// Users ordered by creation time, newest first.
    pub async fn list(&self, limit: i64, offset: i64) -> Result<Vec<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM kavach_user ORDER BY created_at DESC, id LIMIT $1 OFFSET $2");
        db!(&self.0.db, |pool| {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(limit.clamp(0, 10_000)).bind(offset.max(0)).fetch_all(pool).await?;
            rows.iter().map(|r| Ok(user_from_row!(r))).collect()
        })
    }

    pub async fn count(&self) -> Result<i64> {
        db!(&self.0.db, |pool| {
            let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM kavach_user").fetch_one(pool).await?;
            Ok(n)
        })
    }

    /// Create a user (with a credential account when a password is given), checking
    /// the password policy. Fails with `USER_ALREADY_EXISTS` if the email is taken.
    pub async fn create(&self, new: NewUser, ctx: &crate::RequestContext) -> Result<User> {
        let email = normalize_email(&new.email)?;
        check_name(&new.name)?;
        if let Some(i) = &new.image {
            check_image(i)?;
        }
        let hash = match &new.password {
            Some(p) => {
                self.0.options.password.check(p, &self.0.password_context(&email, &new.name))?;
                Some(self.0.hasher.hash(p).await?)
            }
            None => None,
        };
        let row = UserRow {
            email: &email,
            name: &new.name,
            email_verified: new.email_verified,
            image: new.image.as_deref(),
            password_hash: hash.as_deref(),
            ..Default::default()
        };
        let user = insert_user(self.0, row, ctx)
            .await?
            .ok_or_else(|| Error::new(crate::error::Kind::Unprocessable, Code::UserAlreadyExists, "A user with this email already exists"))?;
        Ok(user)
    }

    /// Ban a user until `until` (none: permanently): every session ends now, and
    /// sign-in is refused with `BANNED_USER` while the ban lasts.
    pub async fn ban(&self, id: &str, reason: Option<&str>, until: Option<Ts>, ctx: &crate::RequestContext) -> Result<bool> {
        self.ban_by(id, reason, until, None, ctx).await
    }

    /// [`Self::ban`] by an admin (`by`, recorded in the audit log).
    pub(crate) async fn ban_by(&self, id: &str, reason: Option<&str>, until: Option<Ts>, by: Option<&str>, ctx: &crate::RequestContext) -> Result<bool> {
        let found = db!(&self.0.db, |pool| {
            let mut tx = pool.begin_write().await?;
            let n = sqlx::query("UPDATE kavach_user SET banned = $1, ban_reason = $2, ban_expires = $3, updated_at = $4 WHERE id = $5")
                .bind(true)
                .bind(reason)
                .bind(until)
                .bind(Ts::now())
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n > 0 {
                sqlx::query("DELETE FROM kavach_session WHERE user_id = $1").bind(id).execute(&mut *tx).await?;
                audit::append_in_tx!(
                    tx,
                    audit::Event::new(crate::audit::EventKind::UserBanned, Some(id), ctx)
                        .with("reason", reason)
                        .with("until", until.map(|t| t.to_iso()))
                        .with_some("adminId", by)
                );
            }
            tx.commit().await?;
            n > 0
        });
        self.0.sessions.cache_invalidate_user(id).await;
        Ok(found)
    }

    pub async fn unban(&self, id: &str, ctx: &crate::RequestContext) -> Result<bool> {
        self.unban_by(id, None, ctx).await
    }

    pub(crate) async fn unban_by(&self, id: &str, by: Option<&str>, ctx: &crate::RequestContext) -> Result<bool> {
        let found = db!(&self.0.db, |pool| {
            let mut tx = pool.begin_write().await?;
            let n = sqlx::query("UPDATE kavach_user SET banned = $1, ban_reason = NULL, ban_expires = NULL, updated_at = $2 WHERE id = $3")
                .bind(false)
                .bind(Ts::now())
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n > 0 {
                audit::append_in_tx!(tx, audit::Event::new(crate::audit::EventKind::UserUnbanned, Some(id), ctx).with_some("adminId", by));
            }
            tx.commit().await?;
            n > 0
        });
        self.0.sessions.cache_invalidate_user(id).await;
        Ok(found)
    }

    /// Change name and/or image (`Some(None)` clears the image).
    pub async fn update(&self, user_id: &str, name: Option<&str>, image: Option<Option<&str>>, ctx: &RequestContext) -> Result<User> {
        self.update_profile(user_id, name, image, None, None, ctx).await
    }

    /// What `/update-user` changes: the name, the image, and the additional fields the
    /// request may set (`input = true`; `null` removes one), in one transaction.
    pub async fn update_from_request(
        &self,
        user_id: &str,
        name: Option<&str>,
        image: Option<Option<&str>>,
        fields: Option<&serde_json::Map<String, serde_json::Value>>,
        ctx: &RequestContext,
    ) -> Result<User> {
        self.update_profile(user_id, name, image, None, fields.map(Fields::Request), ctx).await
    }

    /// Change a user's additional fields (`null` removes one): any declared field, also
    /// those requests cannot set (`input = false`), each checked against its declaration.
    pub async fn update_fields(&self, user_id: &str, changes: &serde_json::Map<String, serde_json::Value>, ctx: &RequestContext) -> Result<User> {
        self.update_profile(user_id, None, None, None, Some(Fields::Server(changes)), ctx).await
    }

    /// [`Self::update`], and the username (normalised, display form; checked by
    /// `usernames().prepare_for`), all in one transaction.
    pub(crate) async fn update_profile(
        &self,
        user_id: &str,
        name: Option<&str>,
        image: Option<Option<&str>>,
        username: Option<(&str, &str)>,
        fields: Option<Fields<'_>>,
        ctx: &RequestContext,
    ) -> Result<User> {
        if let Some(n) = name {
            check_name(n)?;
        }
        if let Some(Some(i)) = image {
            check_image(i)?;
        }
        let fields = match fields {
            Some(changes) => {
                let current = find_by_id(&self.0.db, user_id).await?.ok_or_else(Error::unauthorized)?.fields;
                let o = &self.0.options.user;
                let next = match changes {
                    Fields::Request(input) => o.for_update(&current, input)?,
                    Fields::Server(changes) => o.for_server_update(&current, changes)?,
                };
                o.check_required(&next)?;
                Some(next)
            }
            None => None,
        };
        let now = Ts::now();
        db!(&self.0.db, |pool| {
            let mut tx = pool.begin_write().await?;
            if let Some(n) = name {
                sqlx::query("UPDATE kavach_user SET name = $1, updated_at = $2 WHERE id = $3").bind(n).bind(now).bind(user_id).execute(&mut *tx).await?;
            }
            if let Some(i) = image {
                sqlx::query("UPDATE kavach_user SET image = $1, updated_at = $2 WHERE id = $3").bind(i).bind(now).bind(user_id).execute(&mut *tx).await?;
            }
            if let Some(f) = &fields {
                sqlx::query("UPDATE kavach_user SET additional_fields = $1, updated_at = $2 WHERE id = $3")
                    .bind(crate::fields::to_column(f))
                    .bind(now)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
            }
            if let Some((u, d)) = username {
                let set = sqlx::query("UPDATE kavach_user SET username = $1, display_username = $2, updated_at = $3 WHERE id = $4")
                    .bind(u)
                    .bind(d)
                    .bind(now)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await;
                if let Err(e) = set {
                    // Taken meanwhile by another account (the unique index decides).
                    return Err(if e.as_database_error().is_some_and(|d| d.is_unique_violation()) { crate::plugins::username::taken() } else { e.into() });
                }
            }
            audit::append_in_tx!(
                tx,
                audit::Event::new(crate::audit::EventKind::UserUpdated, Some(user_id), ctx).with_some("username", username.map(|(u, _)| u))
            );
            tx.commit().await?;
        });
        self.0.sessions.cache_invalidate_user(user_id).await;
        find_by_id(&self.0.db, user_id).await?.ok_or_else(Error::unauthorized)
    }

    /// Check the user's current password (`INVALID_PASSWORD` if wrong), rehashing it
    /// when its hash is in an old format.
    pub(crate) async fn check_password(&self, user_id: &str, password: &str) -> Result<()> {
        let stored = password_hash(&self.0.db, user_id).await?;
        let ok = match &stored {
            Some(h) => self.0.hasher.verify(password, h).await?,
            None => {
                self.0.hasher.verify_dummy(password).await?;
                crate::password::Verified::No
            }
        };
        match ok {
            crate::password::Verified::No => Err(Error::bad_request(Code::InvalidPassword, "Invalid password")),
            crate::password::Verified::Yes => Ok(()),
            crate::password::Verified::YesRehash(h) => self.set_password_hash(user_id, &h).await,
        }
    }

    /// Replace the hash of the user's credential account (a rehash on sign-in).
    pub(crate) async fn set_password_hash(&self, user_id: &str, hash: &str) -> Result<()> {
        db!(&self.0.db, |pool| {
            sqlx::query("UPDATE kavach_account SET password = $1, updated_at = $2 WHERE user_id = $3 AND provider_id = 'credential'")
                .bind(hash)
                .bind(Ts::now())
                .bind(user_id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Delete the signed-in user (`/delete-user`): needs the password, or a session
    /// younger than `fresh_age`.
    pub async fn delete_self(&self, session: &Session, password: Option<&str>, ctx: &RequestContext) -> Result<()> {
        self.confirm_fresh(session, password, "to delete the account").await?;
        if !self.delete(&session.user_id, ctx).await? {
            return Err(Error::unauthorized());
        }
        Ok(())
    }

    /// A fresh re-authentication for a sensitive action: the user's `password`, or a
    /// session signed in less than `session.fresh_age` ago. `for_what` ends the refusal's
    /// message ("to delete the account").
    pub async fn confirm_fresh(&self, session: &Session, password: Option<&str>, for_what: &str) -> Result<()> {
        match password {
            Some(p) => self.check_password(&session.user_id, p).await,
            None => {
                let fresh = self.0.options.session.fresh_age.as_secs() as i64;
                if Ts::now() > session.created_at.plus_secs(fresh) {
                    return Err(Error::forbidden(Code::SessionNotFresh, format!("Sign in again or confirm with your password {for_what}")));
                }
                Ok(())
            }
        }
    }

    /// Metadata kept for the user (from imports: `{"public": .., "private": ..}`).
    pub async fn metadata(&self, id: &str) -> Result<Option<serde_json::Value>> {
        let raw: Option<(Option<String>,)> =
            db!(&self.0.db, |pool| { sqlx::query_as("SELECT metadata FROM kavach_user WHERE id = $1").bind(id).fetch_optional(pool).await? });
        Ok(raw.and_then(|r| r.0).and_then(|m| serde_json::from_str(&m).ok()))
    }

    /// Delete a user with everything that belongs to them (sessions, accounts).
    /// Returns false when there was no such user.
    pub async fn delete(&self, id: &str, ctx: &crate::RequestContext) -> Result<bool> {
        self.delete_by(id, None, ctx).await
    }

    /// [`Self::delete`] by an admin (`by`, recorded in the audit log).
    pub(crate) async fn delete_by(&self, id: &str, by: Option<&str>, ctx: &crate::RequestContext) -> Result<bool> {
        let deleted = db!(&self.0.db, |pool| {
            let mut tx = pool.begin_write().await?;
            let n = sqlx::query("DELETE FROM kavach_user WHERE id = $1").bind(id).execute(&mut *tx).await?.rows_affected();
            if n > 0 {
                // The user's OAuth grants go with them: consents, and every token family.
                sqlx::query("DELETE FROM kavach_oauth_consent WHERE user_id = $1").bind(id).execute(&mut *tx).await?;
                sqlx::query("UPDATE kavach_oauth_family SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
                    .bind(Ts::now())
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                audit::append_in_tx!(tx, audit::Event::new(crate::audit::EventKind::UserDeleted, Some(id), ctx).with_some("adminId", by));
            }
            tx.commit().await?;
            n > 0
        });
        if deleted {
            self.0.sessions.cache_invalidate_user(id).await;
        }
        Ok(deleted)
    }
}

/// The account of an address a one-time secret just proved (a magic link, an emailed
/// code): found, or created verified when `allow_sign_up` (`None` when not); an
/// unverified one is proven with [`prove_email`]. Returns the user and whether it is new.
pub(crate) async fn find_or_create_proven(
    core: &Core,
    email: &str,
    name: &str,
    image: Option<&str>,
    allow_sign_up: bool,
    method: &str,
    ctx: &RequestContext,
) -> Result<Option<(User, bool)>> {
    let (user, new) = match find_by_email(&core.db, email).await? {
        Some(u) => (u, false),
        None if allow_sign_up => match insert_user(core, UserRow { email, name, email_verified: true, image, ..Default::default() }, ctx).await? {
            Some(u) => (u, true),
            // Created meanwhile by another request: the secret still proves the address.
            None => (find_by_email(&core.db, email).await?.ok_or_else(Error::invalid_token)?, false),
        },
        None => return Ok(None),
    };
    if user.email_verified {
        return Ok(Some((user, new)));
    }
    // Whoever registered this address never proved it; the secret's reader just did.
    Ok(Some((prove_email(core, &user.id, method, ctx).await?, false)))
}

/// A one-time secret sent to the address (a magic link, an emailed code) proved an
/// unverified account's address: it is verified, and the sessions, OAuth grants, trusted
/// devices and password set before that proof end, in one transaction (account
/// pre-hijacking: whoever registered the address never proved it). `method` names the
/// proof in the audit log. Returns the user as it now is.
pub(crate) async fn prove_email(core: &Core, user_id: &str, method: &str, ctx: &RequestContext) -> Result<User> {
    let now = Ts::now();
    db!(&core.db, |pool| {
        let mut tx = pool.begin_write().await?;
        sqlx::query("UPDATE kavach_user SET email_verified = TRUE, updated_at = $1 WHERE id = $2").bind(now).bind(user_id).execute(&mut *tx).await?;
        let sessions = sqlx::query("DELETE FROM kavach_session WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?.rows_affected();
        let passwords =
            sqlx::query("DELETE FROM kavach_account WHERE user_id = $1 AND provider_id = 'credential'").bind(user_id).execute(&mut *tx).await?.rows_affected();
        let grants = crate::plugins::oauth::revoke_user_grants_in_tx!(tx, user_id, now);
        crate::plugins::two_factor::store::forget_devices_in_tx!(tx, user_id);
        audit::append_in_tx!(
            tx,
            audit::Event::new(audit::EventKind::EmailVerified, Some(user_id), ctx)
                .with("method", method)
                .with("revokedSessions", sessions)
                .with("removedPassword", passwords > 0)
                .with("revokedGrants", grants)
        );
        tx.commit().await?;
    });
    core.sessions.cache_invalidate_user(user_id).await;
    find_by_id(&core.db, user_id).await?.ok_or_else(Error::invalid_token)
}

pub(crate) async fn find_by_id(db: &Db, id: &str) -> Result<Option<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM kavach_user WHERE id = $1");
    db!(db, |pool| {
        match sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await? {
            Some(r) => Ok(Some(user_from_row!(r))),
            None => Ok(None),
        }
    })
}

pub(crate) async fn find_by_email(db: &Db, email: &str) -> Result<Option<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM kavach_user WHERE email = $1");
    db!(db, |pool| {
        match sqlx::query(sqlx::AssertSqlSafe(sql)).bind(email).fetch_optional(pool).await? {
            Some(r) => Ok(Some(user_from_row!(r))),
            None => Ok(None),
        }
    })
}

/// A new user's row, checked by the caller.
#[derive(Default)]
pub(crate) struct UserRow<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub email_verified: bool,
    pub image: Option<&'a str>,
    /// Its `credential` account's hash, if it has a password.
    pub password_hash: Option<&'a str>,
    /// The normalised username and its display form (`[username]`).
    pub username: Option<(&'a str, &'a str)>,
    /// An anonymous user (`[anonymous]`).
    pub is_anonymous: bool,
    /// A phone number a code just proved (`[phone_number]`).
    pub phone_number: Option<&'a str>,
    /// The wallet (EIP-55 address, chain id) whose signature created it (`[siwe]`).
    pub wallet: Option<(&'a str, u64)>,
    /// The identity provider's account (provider id, account id) it signed in with (`[one_tap]`).
    pub provider_account: Option<(&'a str, &'a str)>,
    /// Its additional fields, checked by the caller; none: the declared defaults.
    pub fields: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Insert a user and, with a password hash, its `credential` account, in one
/// transaction with the audit record. `None` when the email is already taken;
/// `USERNAME_IS_ALREADY_TAKEN` when the username is.
pub(crate) async fn insert_user(core: &Core, row: UserRow<'_>, ctx: &crate::RequestContext) -> Result<Option<User>> {
    let UserRow { email, name, email_verified, image, password_hash, username, is_anonymous, phone_number, wallet, provider_account, fields } = row;
    let now = Ts::now();
    let user = User {
        id: crate::crypto::new_id(),
        email: email.to_owned(),
        name: name.to_owned(),
        email_verified,
        image: image.map(str::to_owned),
        created_at: now,
        updated_at: now,
        banned: false,
        ban_expires: None,
        ban_reason: None,
        role: None,
        two_factor_enabled: false,
        username: username.map(|(u, _)| u.to_owned()),
        display_username: username.map(|(_, d)| d.to_owned()),
        is_anonymous,
        phone_number: phone_number.map(str::to_owned),
        phone_number_verified: phone_number.is_some(),
        fields: fields.unwrap_or_else(|| core.options.user.defaults()),
    };
    db!(&core.db, |pool| {
        let mut tx = pool.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO kavach_user (id, email, name, email_verified, image, created_at, updated_at, username, display_username, is_anonymous, phone_number, phone_number_verified, additional_fields) \
             VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (email) DO NOTHING",
        )
        .bind(&user.id)
        .bind(&user.email)
        .bind(&user.name)
        .bind(user.email_verified)
        .bind(&user.image)
        .bind(now)
        .bind(&user.username)
        .bind(&user.display_username)
        .bind(user.is_anonymous)
        .bind(&user.phone_number)
        .bind(user.phone_number_verified)
        .bind(crate::fields::to_column(&user.fields))
        .execute(&mut *tx)
        .await;
        // The email's conflict is "nothing inserted"; the other unique columns are the
        // username and the phone number.
        let inserted = match inserted {
            Err(e) if e.as_database_error().is_some_and(|d| d.is_unique_violation()) => {
                return Err(if user.phone_number.is_some() { crate::plugins::phone_number::taken() } else { crate::plugins::username::taken() });
            }
            r => r?.rows_affected(),
        };
        if inserted == 0 {
            return Ok(None);
        }
        if let Some(hash) = password_hash {
            upsert_credential!(tx, &user.id, hash, now);
        }
        audit::append_in_tx!(tx, audit::Event::new(crate::audit::EventKind::UserCreated, Some(&user.id), ctx));
        if let Some((address, chain_id)) = wallet {
            crate::plugins::siwe::store::insert_wallet_in_tx!(tx, &user.id, address, chain_id, ctx);
        }
        if let Some((provider, account_id)) = provider_account {
            crate::plugins::one_tap::store::insert_account_in_tx!(tx, &user.id, provider, account_id, ctx);
        }
        tx.commit().await?;
    });
    Ok(Some(user))
}

/// The column a password sign-in looks the user up by.
#[derive(Clone, Copy)]
pub(crate) enum SignInBy {
    Email,
    /// The normalised username (`[username]`).
    Username,
    /// The E.164 phone number (`[phone_number]`).
    PhoneNumber,
}

/// A user and their stored password hash, in one query (the sign-in path: known and
/// unknown accounts then cost the same number of round trips).
pub(crate) async fn find_with_password(db: &Db, by: SignInBy, value: &str) -> Result<Option<(User, Option<String>)>> {
    let column = match by {
        SignInBy::Email => "email",
        SignInBy::Username => "username",
        SignInBy::PhoneNumber => "phone_number",
    };
    let sql = format!(
        "SELECT {USER_COLUMNS_U}, a.password AS password FROM kavach_user u \
         LEFT JOIN kavach_account a ON a.user_id = u.id AND a.provider_id = 'credential' WHERE u.{column} = $1"
    );
    db!(db, |pool| {
        match sqlx::query(sqlx::AssertSqlSafe(sql)).bind(value).fetch_optional(pool).await? {
            Some(r) => Ok(Some((user_from_row!(r), r.try_get("password")?))),
            None => Ok(None),
        }
    })
}

/// The stored password hash of the user's credential account, if any.
pub(crate) async fn password_hash(db: &Db, user_id: &str) -> Result<Option<String>> {
    db!(db, |pool| {
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT password FROM kavach_account WHERE user_id = $1 AND provider_id = 'credential'").bind(user_id).fetch_optional(pool).await?;
        Ok(row.and_then(|r| r.0))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn email_normalisation() {
        assert_eq!(normalize_email("  Alice@Example.COM ").unwrap(), "alice@example.com");
        for bad in [
            "",
            "alice",
            "@x.com",
            "a@",
            "a b@x.com",
            "a@x..com",
            "a@.x.com",
            "a@b@c",
            "ali\u{200B}ce@x.com",
            "alice@x.com\u{202E}",
            "\u{2067}alice@x.com\u{2069}",
            "a\u{FEFF}@x.com",
            "alice\0@x.com",
        ] {
            assert_eq!(normalize_email(bad).unwrap_err().code, "INVALID_EMAIL", "{bad}");
        }
    }
}
