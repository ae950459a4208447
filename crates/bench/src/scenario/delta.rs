//! `delta`: a delta `syncTasks` of K changes in a database of N tasks,
//! seeded straight into the database with SQL written against the current
//! schemas (update it with the migrations).

use std::time::Instant;

use anyhow::bail;
use serde_json::json;

use crate::api::{gql, head_cursor, register, write_load};
use crate::args::Args;
use crate::report::{Report, dist, stamp};
use crate::server::{Db, Server};

/// Fills the database with `n` tasks of other users, straight through SQL
/// (through the API it would take many minutes).
async fn seed(db: &std::path::Path, n: usize) -> anyhow::Result<()> {
    use sqlx::Connection as _;
    let url = format!("sqlite://{}", db.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await?;
    sqlx::query("PRAGMA busy_timeout = 30000")
        .execute(&mut conn)
        .await?;
    let per_user = 1000;
    let mut tx = conn.begin().await?;
    for u in 0..n.div_ceil(per_user) {
        let owner = uuid::Uuid::now_v7();
        sqlx::query("INSERT INTO users (id, email, password_hash, confirmed, disabled, created_at, updated_at) VALUES ($1, $2, 'x', 1, 0, 0, 0)")
            .bind(owner)
            .bind(format!("seed{u}-{}@bench.example", owner.simple()))
            .execute(&mut *tx)
            .await?;
        let count = per_user.min(n - u * per_user);
        for i in 0..count {
            sqlx::query(
                "INSERT INTO tasks (id, owner, title, description, done, created_at, updated_at, version, deleted, last_seq)
                 VALUES ($1, $2, $3, NULL, 0, $4, $4, 1, 0, $5)",
            )
            .bind(uuid::Uuid::now_v7())
            .bind(owner)
            .bind(format!("seeded task {i}"))
            .bind(i as i64)
            .bind(i as i64 + 1)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("INSERT INTO scopes (scope, seq, trimmed_to) VALUES ($1, $2, $2)")
            .bind(owner)
            .bind(count as i64)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The same seeding on PostgreSQL, in one statement.
async fn seed_postgres(url: &str, n: usize) -> anyhow::Result<()> {
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(url).await?;
    sqlx::query(
        "WITH u AS (
             INSERT INTO users (id, email, password_hash, confirmed, disabled, created_at, updated_at)
             SELECT gen_random_uuid(), 'seed' || g || '-' || md5(random()::text) || '@bench.example',
                    'x', TRUE, FALSE, 0, 0
             FROM generate_series(1, $1::int) g
             RETURNING id),
         t AS (
             INSERT INTO tasks (id, owner, title, description, done, created_at, updated_at,
                                version, deleted, last_seq)
             SELECT gen_random_uuid(), u.id, 'seeded task ' || i, NULL, FALSE, i, i, 1, FALSE, i + 1
             FROM u, generate_series(0, 999) i)
         INSERT INTO scopes (scope, seq, trimmed_to) SELECT id, 1000, 1000 FROM u",
    )
    .bind(i32::try_from(n.div_ceil(1000))?)
    .execute(&mut conn)
    .await?;
    sqlx::query("ANALYZE").execute(&mut conn).await?;
    Ok(())
}

/// The delta-sync scenario.
pub async fn run(
    args: &Args,
    http: &reqwest::Client,
    server: &Server,
    report: &mut Report,
) -> anyhow::Result<()> {
    let Some(db) = &server.db else {
        println!("delta: skipped (needs --db with --url)");
        return Ok(());
    };
    let seed_start = Instant::now();
    match db {
        Db::Sqlite(path) => seed(path, args.delta_tasks).await?,
        Db::Postgres(url) => seed_postgres(url, args.delta_tasks).await?,
    }
    let seeded = seed_start.elapsed();
    let token = register(
        http,
        &server.base,
        &format!("delta-{}@bench.example", uuid::Uuid::new_v4().simple()),
    )
    .await?;
    // Some history before the cursor, then K changes after it.
    write_load(
        http,
        &server.bases,
        std::slice::from_ref(&token),
        args.delta_changes,
        args.concurrency,
    )
    .await?;
    let cursor = head_cursor(http, &server.base, &token).await?;
    write_load(
        http,
        &server.bases,
        std::slice::from_ref(&token),
        args.delta_changes,
        args.concurrency,
    )
    .await?;
    let query = "query($last: String, $limit: Int) { syncTasks(lastSync: $last, limit: $limit) { items { id title done version deleted updatedAt } cursor fullSync nextToken } }";
    let mut times = Vec::new();
    let mut items = 0;
    for _ in 0..30 {
        let start = stamp();
        let d = gql(
            http,
            &server.base,
            &token,
            query,
            json!({ "last": cursor, "limit": args.delta_changes }),
        )
        .await?;
        times.push(stamp() - start);
        items = d["syncTasks"]["items"].as_array().map_or(0, Vec::len);
        if d["syncTasks"]["fullSync"] != false {
            bail!("expected a delta sync");
        }
    }
    let d = dist(times);
    report.add(
        "delta_sync",
        format!(
            "delta sync of K={} changes among N={} tasks: p50 {:.2} ms p99 {:.2} ms ({items} items; seeding took {:.1} s)",
            args.delta_changes,
            args.delta_tasks + 2 * args.delta_changes,
            d.p50,
            d.p99,
            seeded.as_secs_f64()
        ),
        json!({ "changes": args.delta_changes, "tasks": args.delta_tasks + 2 * args.delta_changes, "ms": { "p50": d.p50, "p99": d.p99 }, "items": items }),
    );
    Ok(())
}
