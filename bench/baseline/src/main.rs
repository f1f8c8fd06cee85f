//! The benchmark baseline: a minimal axum server whose `GET /get-session` builds
//! and serialises a JSON body shaped like Kavach's get-session answer, with no
//! authentication and no database. Kavach's figure is reported as a ratio of this.
//!
//! Given a SQLite file as its second argument, it also serves the durable-write floor:
//! the fastest a handler can answer once a row of its own is committed, through the
//! driver Kavach uses (sqlx), on a database opened as Kavach opens its own (WAL,
//! `synchronous = NORMAL`). Every sign-in without a password must commit before it
//! answers (the single-use input consumed, the session and its audit record), so no
//! sign-in can beat this:
//! - `GET /write-each`: each request commits its own one-row `INSERT`;
//! - `GET /write-grouped`: the rows of every request waiting are written by one writer
//!   task in one multi-row `INSERT` (one statement, one commit, one hand-off to the
//!   driver's thread per group), each request answered once its group committed;
//! - `GET /write-direct`: the same groups written by a thread of this program that holds
//!   a connection's SQLite handle itself (`lock_handle`) and calls SQLite directly, with
//!   no hand-off to the driver's thread per statement: what the machine allows without
//!   the driver's design.
//!
//! Usage: kavach-bench-baseline 127.0.0.1:PORT [path/to/floor.db]

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::{Value, json};
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

async fn get_session() -> Json<Value> {
    Json(json!({
        "session": {
            "id": "bkBbluaMTqw9K18qFhbCPmlVTTgZHXVS",
            "userId": "3dxNNsQE8maswXDOtQqVpnLKCuxpp5IS",
            "token": "7LYVkCbtBYQcn0fg0Cl_6gcpF1CMWtsU_emoUgu3FXU",
            "expiresAt": "2026-11-29T15:50:46.997Z",
            "ipAddress": "127.0.0.1",
            "userAgent": "wrk",
            "createdAt": "2026-11-22T15:50:46.997Z",
            "updatedAt": "2026-11-22T15:50:46.997Z"
        },
        "user": {
            "id": "3dxNNsQE8maswXDOtQqVpnLKCuxpp5IS",
            "email": "bench@example.com",
            "name": "Bench",
            "emailVerified": true,
            "image": null,
            "createdAt": "2026-11-22T15:50:46.953Z",
            "updatedAt": "2026-11-22T15:50:46.953Z"
        }
    }))
}

/// Rows per grouped `INSERT` at most (Kavach's group size).
const GROUP_MAX: usize = 256;

type Waiting = mpsc::Sender<oneshot::Sender<bool>>;

#[derive(Clone)]
struct Floor {
    pool: SqlitePool,
    group: Waiting,
    direct: Waiting,
}

fn row_value() -> String {
    // A session-token-sized value, different per row.
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!("{:043}", N.fetch_add(1, Ordering::Relaxed))
}

async fn write_each(State(f): State<Floor>) -> Result<Json<Value>, StatusCode> {
    sqlx::query("INSERT INTO floor (v) VALUES (?)").bind(row_value()).execute(&f.pool).await.map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
    Ok(get_session().await)
}

async fn write_grouped(State(f): State<Floor>) -> Result<Json<Value>, StatusCode> {
    grouped(&f.group).await
}

async fn write_direct(State(f): State<Floor>) -> Result<Json<Value>, StatusCode> {
    grouped(&f.direct).await
}

async fn grouped(writer: &Waiting) -> Result<Json<Value>, StatusCode> {
    let (done, committed) = oneshot::channel();
    writer.send(done).await.map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
    match committed.await {
        Ok(true) => Ok(get_session().await),
        _ => Err(StatusCode::SERVICE_UNAVAILABLE),
    }
}

async fn writer(pool: SqlitePool, mut rx: mpsc::Receiver<oneshot::Sender<bool>>) {
    let mut waiting = Vec::with_capacity(GROUP_MAX);
    while rx.recv_many(&mut waiting, GROUP_MAX).await > 0 {
        let sql = format!("INSERT INTO floor (v) VALUES {}", vec!["(?)"; waiting.len()].join(", "));
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(false);
        for _ in &waiting {
            q = q.bind(row_value());
        }
        let ok = q.execute(&pool).await.is_ok();
        for done in waiting.drain(..) {
            let _ = done.send(ok);
        }
    }
}

/// The direct writer, on a thread of its own (the handle's lock cannot move between
/// threads): one connection's handle held for the thread's life; each group is `BEGIN
/// IMMEDIATE`, one prepared one-row `INSERT` stepped per row, `COMMIT`, all on this
/// thread (each call returns in microseconds: the database is a local file).
async fn direct_writer(pool: SqlitePool, mut rx: mpsc::Receiver<oneshot::Sender<bool>>) {
    use libsqlite3_sys as ffi;
    use std::ffi::CStr;
    let mut conn = pool.acquire().await.expect("a connection for the direct writer");
    let mut handle = conn.lock_handle().await.expect("the connection's handle");
    let db = handle.as_raw_handle().as_ptr();
    // SAFETY: `db` is an open connection this thread holds locked (no other thread uses
    // it); the statement is finalised before the handle's guard is dropped; every
    // pointer passed lives across its call (SQLITE_TRANSIENT copies the text).
    unsafe {
        let exec = |sql: &CStr| ffi::sqlite3_exec(db, sql.as_ptr(), None, std::ptr::null_mut(), std::ptr::null_mut()) == ffi::SQLITE_OK;
        let mut insert = std::ptr::null_mut();
        let sql = c"INSERT INTO floor (v) VALUES (?)";
        assert_eq!(ffi::sqlite3_prepare_v2(db, sql.as_ptr(), -1, &mut insert, std::ptr::null_mut()), ffi::SQLITE_OK, "prepare");
        let mut waiting = Vec::with_capacity(GROUP_MAX);
        while rx.recv_many(&mut waiting, GROUP_MAX).await > 0 {
            let mut ok = exec(c"BEGIN IMMEDIATE");
            for _ in &waiting {
                let v = row_value();
                ok = ok
                    && ffi::sqlite3_bind_text(insert, 1, v.as_ptr().cast(), v.len() as i32, ffi::SQLITE_TRANSIENT()) == ffi::SQLITE_OK
                    && ffi::sqlite3_step(insert) == ffi::SQLITE_DONE;
                ffi::sqlite3_reset(insert);
            }
            ok = ok && exec(c"COMMIT");
            if !ok {
                exec(c"ROLLBACK");
            }
            for done in waiting.drain(..) {
                let _ = done.send(ok);
            }
        }
        ffi::sqlite3_finalize(insert);
    }
}

async fn floor(path: &str) -> Floor {
    let opts = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(10));
    let pool = SqlitePoolOptions::new().max_connections(8).connect_with(opts).await.expect("open the floor database");
    sqlx::query("CREATE TABLE IF NOT EXISTS floor (id INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE)").execute(&pool).await.expect("create the floor table");
    let (group, rx) = mpsc::channel(GROUP_MAX * 4);
    tokio::spawn(writer(pool.clone(), rx));
    let (direct, rx) = mpsc::channel(GROUP_MAX * 4);
    let direct_pool = pool.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("the direct writer's runtime");
        rt.block_on(direct_writer(direct_pool, rx));
    });
    Floor { pool, group, direct }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:3200".into());
    let mut app = axum::Router::new().route("/get-session", get(get_session));
    if let Some(path) = args.next() {
        let f = floor(&path).await;
        app = app.merge(
            axum::Router::new()
                .route("/write-each", get(write_each))
                .route("/write-grouped", get(write_grouped))
                .route("/write-direct", get(write_direct))
                .with_state(f),
        );
    }
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    println!("baseline listening on http://{}", listener.local_addr().unwrap());
    axum::serve(listener, app).await.expect("serve");
}
