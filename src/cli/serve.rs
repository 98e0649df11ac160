//! `sqlkeep serve` (issue 16): the scheduler, as `sqlkeep run` runs it, plus a JSON API
//! under `/api/`, Server-Sent Events, Prometheus metrics and the dashboard page, on
//! `server.listen`. A face like the CLI: every route is a short translation to a
//! `Keeper` method (run on the blocking pool, never on the async workers), its JSON the
//! core's serde output, its errors the core's kinds mapped to status codes.
//!
//! Security: loopback by default; with `server.token_env` every `/api/` and `/metrics`
//! request needs `Authorization: Bearer <token>` (compared in constant time); listening
//! beyond loopback without a token is refused at start. No cookies are read, so there is
//! nothing for a cross-site request to ride on. Bodies are capped at 64 KiB; unknown keys
//! and bad JSON are 400s that change nothing.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use serde_json::{json, Value};
use sqlkeep::{
    BackupRequest, ConfigChange, Error, ErrorKind, Keeper, Kind, Operation, VerifyLevel,
};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// Request bodies larger than this are refused (413).
const BODY_LIMIT: usize = 64 << 10;

struct AppState {
    keeper: Keeper,
    token: Option<String>,
    events: broadcast::Sender<String>,
    /// A backup started through the API is running (one at a time: 409 otherwise).
    busy: Arc<AtomicBool>,
    /// Backups started with 202 still running, joined at shutdown.
    running: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

type Shared = Arc<AppState>;

/// An error as the API answers it: `{"error": {"kind", "message", "key"?, "hint"?}}`.
struct ApiError {
    status: StatusCode,
    body: Value,
}

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        let status = match e.kind() {
            ErrorKind::Config | ErrorKind::InvalidArgument => StatusCode::BAD_REQUEST,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Busy => StatusCode::CONFLICT,
            ErrorKind::Corrupt => StatusCode::UNPROCESSABLE_ENTITY,
            // An upstream that refused: the remote, or the PostgreSQL server or its
            // programs.
            ErrorKind::Remote | ErrorKind::Postgres => StatusCode::BAD_GATEWAY,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let mut err = json!({"kind": e.kind().as_str(), "message": e.message()});
        if let Some(k) = e.key() {
            err["key"] = k.into();
        }
        if let Some(h) = e.hint() {
            err["hint"] = h.into();
        }
        ApiError {
            status,
            body: json!({ "error": err }),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

fn bad_request(key: Option<&str>, message: impl Into<String>) -> ApiError {
    let e = match key {
        Some(k) => Error::config(k, message),
        None => Error::invalid_argument(Operation::Config, message),
    };
    e.into()
}

type ApiResult = Result<Response, ApiError>;

/// Runs `f` with the keeper on the blocking pool.
async fn blocking<T: Send + 'static>(
    s: &Shared,
    f: impl FnOnce(&Keeper) -> sqlkeep::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    let keeper = s.keeper.clone();
    tokio::task::spawn_blocking(move || f(&keeper))
        .await
        .map_err(|e| bad_request(None, format!("internal error: {e}")))?
        .map_err(ApiError::from)
}

fn ok(v: impl serde::Serialize) -> ApiResult {
    Ok(Json(serde_json::to_value(v).expect("results serialise")).into_response())
}

/// A JSON body of type `T` (unknown keys refused), or a 400 that says what is wrong.
fn body<T: serde::de::DeserializeOwned>(bytes: &Bytes) -> Result<T, ApiError> {
    let text = if bytes.is_empty() {
        &b"{}"[..]
    } else {
        &bytes[..]
    };
    serde_json::from_slice(text).map_err(|e| bad_request(None, format!("bad request body: {e}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Page {
    limit: Option<usize>,
    offset: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateQuery {
    wait: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteQuery {
    remote_copies: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    label: Option<String>,
    /// A self-contained full backup even when `incremental` is on.
    full: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyBody {
    level: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportBody {
    to: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RestoreBody {
    confirm: Option<bool>,
    to: Option<PathBuf>,
}

async fn status(State(s): State<Shared>) -> ApiResult {
    let (status, health) = blocking(&s, |k| Ok((k.status(), k.health()?))).await?;
    ok(json!({
        "running": status.running,
        "next_run": status.next_run.map(|t| sqlkeep::format_time(&t)),
        "last_success": health.last_success.map(|t| sqlkeep::format_time(&t)),
        "last_failure": blocking(&s, |k| k.stats()).await?.last_failure.map(|t| sqlkeep::format_time(&t)),
        "health": health,
        "scheduler": status,
    }))
}

async fn get_config(State(s): State<Shared>) -> ApiResult {
    ok(s.keeper.config().to_value())
}

async fn patch_config(State(s): State<Shared>, bytes: Bytes) -> ApiResult {
    let v: Value = body(&bytes)?;
    let change = ConfigChange::from_value(&v, None)?;
    let cfg = blocking(&s, move |k| k.configure(&change)).await?;
    ok(cfg.to_value())
}

async fn scheduler_start(State(s): State<Shared>) -> ApiResult {
    blocking(&s, |k| k.start()).await?;
    ok(json!({"running": s.keeper.is_running()}))
}

async fn scheduler_stop(State(s): State<Shared>) -> ApiResult {
    blocking(&s, |k| Ok(k.stop())).await?;
    ok(json!({"running": s.keeper.is_running()}))
}

async fn list_backups(State(s): State<Shared>, Query(p): Query<Page>) -> ApiResult {
    let (limit, offset) = (p.limit.unwrap_or(50).min(1000), p.offset.unwrap_or(0));
    let all = blocking(&s, |k| k.list()).await?;
    let total = all.len();
    let page: Vec<_> = all.into_iter().skip(offset).take(limit).collect();
    ok(json!({"backups": page, "total": total, "limit": limit, "offset": offset}))
}

async fn create_backup(
    State(s): State<Shared>,
    Query(q): Query<CreateQuery>,
    bytes: Bytes,
) -> ApiResult {
    let b: CreateBody = body(&bytes)?;
    let req = BackupRequest {
        kind: Kind::Manual,
        label: b.label,
        full: b.full.unwrap_or(false),
    };
    if s.busy.swap(true, Ordering::SeqCst) {
        return Err(Error::busy(
            Operation::Backup,
            "a backup started through the API is still running",
        )
        .into());
    }
    let busy = s.busy.clone();
    if q.wait.unwrap_or(false) {
        let result = blocking(&s, move |k| {
            let r = k.backup(&req);
            busy.store(false, Ordering::SeqCst);
            r
        })
        .await?;
        return Ok((
            StatusCode::CREATED,
            Json(serde_json::to_value(result).expect("manifests serialise")),
        )
            .into_response());
    }
    let run_id = format!("run-{:016x}", fastrand::u64(..));
    let keeper = s.keeper.clone();
    let handle = std::thread::spawn(move || {
        // Its outcome reaches clients as events (`backup_succeeded` / `backup_failed`).
        let _ = keeper.backup(&req);
        busy.store(false, Ordering::SeqCst);
    });
    let mut running = s.running.lock().unwrap_or_else(|e| e.into_inner());
    running.retain(|h| !h.is_finished());
    running.push(handle);
    drop(running);
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"run_id": run_id, "events": "/api/events", "history": "/api/history"})),
    )
        .into_response())
}

async fn get_backup(State(s): State<Shared>, UrlPath(id): UrlPath<String>) -> ApiResult {
    ok(blocking(&s, move |k| k.get(&id)).await?)
}

async fn delete_backup(
    State(s): State<Shared>,
    UrlPath(id): UrlPath<String>,
    Query(q): Query<DeleteQuery>,
) -> ApiResult {
    let remote_copies = q.remote_copies.unwrap_or(false);
    ok(blocking(&s, move |k| k.delete_with(&id, remote_copies)).await?)
}

async fn verify_backup(
    State(s): State<Shared>,
    UrlPath(id): UrlPath<String>,
    bytes: Bytes,
) -> ApiResult {
    let b: VerifyBody = body(&bytes)?;
    let level = match b.level.as_deref() {
        None | Some("full") => VerifyLevel::Full,
        Some("quick") => VerifyLevel::Quick,
        Some(other) => {
            return Err(bad_request(
                Some("level"),
                format!("{other:?} is not a level; use \"quick\" or \"full\""),
            ))
        }
    };
    let v = blocking(&s, move |k| k.verify(&id, level)).await?;
    let status = if v.ok {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok((
        status,
        Json(serde_json::to_value(v).expect("results serialise")),
    )
        .into_response())
}

async fn restore_backup(
    State(s): State<Shared>,
    UrlPath(id): UrlPath<String>,
    bytes: Bytes,
) -> ApiResult {
    let b: RestoreBody = body(&bytes)?;
    if b.confirm != Some(true) {
        return Err(bad_request(
            Some("confirm"),
            "a restore needs {\"confirm\": true}: it replaces the live database (after a safety backup) or writes `to`",
        ));
    }
    ok(blocking(&s, move |k| k.restore(&id, b.to.as_deref(), false)).await?)
}

/// Writes backup `id` as one self-contained `.gz` or `.zst` file `to` on the server's
/// disk (a relative `to` is taken from the server's working folder, as for a restore).
async fn export_backup(
    State(s): State<Shared>,
    UrlPath(id): UrlPath<String>,
    bytes: Bytes,
) -> ApiResult {
    let b: ExportBody = body(&bytes)?;
    let Some(to) = b.to else {
        return Err(bad_request(
            Some("to"),
            "an export needs {\"to\": \"/path/app.sqlite3.gz\"}: the new file (.gz or .zst) on the server",
        ));
    };
    ok(blocking(&s, move |k| k.export(&id, &to)).await?)
}

/// Cancels the running backup(s): `{"cancelled": true}` when one was running (its
/// `backup_cancelled` event follows on /api/events), `false` when none was.
async fn cancel(State(s): State<Shared>) -> ApiResult {
    ok(json!({"cancelled": s.keeper.cancel()}))
}

async fn rotation_preview(State(s): State<Shared>) -> ApiResult {
    ok(blocking(&s, |k| k.rotate(true)).await?)
}

async fn rotation_apply(State(s): State<Shared>) -> ApiResult {
    ok(blocking(&s, |k| k.rotate(false)).await?)
}

async fn history(State(s): State<Shared>, Query(p): Query<Page>) -> ApiResult {
    let (limit, offset) = (p.limit.unwrap_or(50).min(1000), p.offset.unwrap_or(0));
    ok(blocking(&s, move |k| k.history(limit, offset)).await?)
}

async fn stats(State(s): State<Shared>) -> ApiResult {
    ok(blocking(&s, |k| k.stats()).await?)
}

/// The keeper's events as Server-Sent Events (`event: <type>`, `data: <json>`).
async fn events(State(s): State<Shared>) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let rx = s.events.subscribe();
    let stream = stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(text) => {
                    let kind = serde_json::from_str::<Value>(&text)
                        .ok()
                        .and_then(|v| v["type"].as_str().map(str::to_string))
                        .unwrap_or_else(|| "event".into());
                    return Some((Ok(SseEvent::default().event(kind).data(text)), rx));
                }
                // A slow client skips what it missed rather than holding the others back.
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// Prometheus text: last success, last duration, sizes, failures, scheduler up.
async fn metrics(State(s): State<Shared>) -> ApiResult {
    let (stats, status, health) =
        blocking(&s, |k| Ok((k.stats()?, k.status(), k.health()?))).await?;
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, v: f64| {
        out.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}\n"
        ));
    };
    let ts = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map_or(0.0, |t| t.timestamp_millis() as f64 / 1000.0)
    };
    gauge(
        "sqlkeep_last_success_timestamp_seconds",
        "Time of the last successful backup run (0: none).",
        ts(stats.last_success),
    );
    gauge(
        "sqlkeep_last_failure_timestamp_seconds",
        "Time of the last failed backup run (0: none).",
        ts(stats.last_failure),
    );
    gauge(
        "sqlkeep_average_duration_seconds",
        "Mean duration of successful backup runs.",
        stats.average_duration_ms.unwrap_or(0) as f64 / 1000.0,
    );
    gauge("sqlkeep_backups", "Backups present.", stats.count as f64);
    gauge(
        "sqlkeep_backups_bytes",
        "Total size of the backups present.",
        stats.total_bytes as f64,
    );
    gauge(
        "sqlkeep_runs_total",
        "Backup runs logged.",
        stats.runs as f64,
    );
    gauge(
        "sqlkeep_failures_total",
        "Failed backup runs logged.",
        stats.failures as f64,
    );
    gauge(
        "sqlkeep_scheduler_up",
        "1 when the scheduler runs.",
        if status.running { 1.0 } else { 0.0 },
    );
    gauge(
        "sqlkeep_health",
        "The health verdict: 0 ok, 1 warning, 2 failing.",
        match health.verdict {
            sqlkeep::HealthLevel::Ok => 0.0,
            sqlkeep::HealthLevel::Warning => 1.0,
            _ => 2.0,
        },
    );
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response())
}

async fn page() -> Html<&'static str> {
    Html(sqlkeep::DASHBOARD_HTML)
}

/// Constant-time comparison, so the token cannot be guessed byte by byte from timing.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn auth(State(s): State<Shared>, headers: HeaderMap, req: Request, next: Next) -> Response {
    if let Some(token) = &s.token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !same(given.as_bytes(), token.as_bytes()) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                Json(json!({"error": {"kind": "unauthorized", "message": "this server needs `Authorization: Bearer <token>` (the value of the variable server.token_env names)"}})),
            )
                .into_response();
        }
    }
    next.run(req).await
}

async fn not_found() -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        body: json!({"error": {"kind": "not_found", "message": "no such route; the API is under /api/"}}),
    }
}

/// The router over `keeper` (tests build it too).
fn router(state: Shared) -> Router {
    let api = Router::new()
        .route("/api/status", get(status))
        .route("/api/config", get(get_config).patch(patch_config))
        .route("/api/scheduler/start", post(scheduler_start))
        .route("/api/scheduler/stop", post(scheduler_stop))
        .route("/api/backups", get(list_backups).post(create_backup))
        .route("/api/backups/{id}", get(get_backup).delete(delete_backup))
        .route("/api/backups/{id}/verify", post(verify_backup))
        .route("/api/backups/{id}/restore", post(restore_backup))
        .route("/api/backups/{id}/export", post(export_backup))
        .route("/api/cancel", post(cancel))
        .route("/api/rotation", get(rotation_preview).post(rotation_apply))
        .route("/api/history", get(history))
        .route("/api/stats", get(stats))
        .route("/api/events", get(events))
        .route("/metrics", get(metrics))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth));
    Router::new()
        .route("/", get(page))
        .merge(api)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// The token, or why the server must not start.
fn token(cfg: &sqlkeep::Config) -> sqlkeep::Result<Option<String>> {
    let listen = cfg.server.listen;
    match &cfg.server.token_env {
        Some(var) => match std::env::var(var) {
            Ok(t) if !t.trim().is_empty() => Ok(Some(t.trim().to_string())),
            _ => Err(Error::config(
                "server.token_env",
                format!("the environment variable {var} is not set (or empty): the server needs its token"),
            )),
        },
        None if !listen.ip().is_loopback() => Err(Error::config(
            "server.listen",
            format!("{listen} is not a loopback address, and no token is configured: set server.token_env to the name of a variable holding one"),
        )),
        None => Ok(None),
    }
}

/// `sqlkeep serve`: runs until SIGINT/SIGTERM, then stops accepting requests, lets
/// running requests and backups finish, and stops the scheduler.
pub fn serve(keeper: &Keeper, listen: Option<SocketAddr>) -> sqlkeep::Result<()> {
    let cfg = keeper.config();
    let mut cfg_listen = cfg.clone();
    if let Some(l) = listen {
        cfg_listen.server.listen = l;
    }
    let token = token(&cfg_listen)?;
    let addr = cfg_listen.server.listen;
    let (events, _) = broadcast::channel(1024);
    let tx = events.clone();
    let sub = keeper.subscribe(move |e| {
        let _ = tx.send(e.to_value().to_string());
    });
    let state = Arc::new(AppState {
        keeper: keeper.clone(),
        token,
        events,
        busy: Arc::default(),
        running: Mutex::default(),
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| {
            Error::new(
                ErrorKind::Io,
                Operation::Config,
                format!("cannot start the server runtime: {e}"),
            )
        })?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let stop_tx = Mutex::new(Some(stop_tx));
    ctrlc::set_handler(move || {
        if let Some(tx) = stop_tx.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = tx.send(());
        }
    })
    .map_err(|e| {
        Error::invalid_argument(
            Operation::Config,
            format!("cannot install the signal handler: {e}"),
        )
    })?;
    let result = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            Error::io(
                Operation::Config,
                "cannot listen on",
                std::path::Path::new(&addr.to_string()),
                e,
            )
        })?;
        let bound = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        println!(
            "sqlkeep serving http://{bound}/ (scheduler {})",
            if keeper.start()? {
                "started"
            } else {
                "running"
            }
        );
        use std::io::Write;
        let _ = std::io::stdout().flush();
        axum::serve(listener, router(state.clone()))
            .with_graceful_shutdown(async {
                let _ = stop_rx.await;
            })
            .await
            .map_err(|e| {
                Error::new(
                    ErrorKind::Io,
                    Operation::Config,
                    format!("server failed: {e}"),
                )
            })
    });
    // Backups started through the API finish before the process ends: nothing is left
    // half-written (a crash would be resolved by the next run's sweep anyway).
    let running: Vec<_> =
        std::mem::take(&mut *state.running.lock().unwrap_or_else(|e| e.into_inner()));
    for h in running {
        let _ = h.join();
    }
    keeper.unsubscribe(sub);
    keeper.stop();
    result
}
