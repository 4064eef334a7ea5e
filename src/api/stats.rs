//! `GET /api/v1/webhooks/{id}/stats`: a webhook's health over 24 hours or 7 days.

use actix_web::http::StatusCode;
use actix_web::web;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::path_id;
use super::responses::{ScopeErrors, WorkspaceHeader};
use super::{envelope, ApiResult, Caller, Envelope, ErrorEnvelope};
use crate::clock::rfc3339;
use crate::domain::Scope;
use crate::service::stats::{self, Window};
use crate::state::AppState;
use crate::store::types::HourStats;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// `24h` (24 hourly buckets, the default) or `7d` (7 daily buckets, UTC days).
    #[param(pattern = "^(24h|7d)$")]
    pub window: Option<String>,
}

/// Attempts of one bucket (or of the window).
#[derive(Serialize, ToSchema)]
pub struct StatsFigures {
    /// Attempts answered with a 2xx.
    pub succeeded: i64,
    /// Attempts that failed (any other answer, or none).
    pub failed: i64,
    pub attempts: i64,
    /// Median response time in ms (from fixed buckets: 5, 10, 25, 50, 100, 250 ms, …), or
    /// `null` without attempts.
    #[schema(required = true)]
    pub p50_ms: Option<i64>,
    #[schema(required = true)]
    pub p95_ms: Option<i64>,
}

impl From<&HourStats> for StatsFigures {
    fn from(s: &HourStats) -> Self {
        StatsFigures {
            succeeded: s.succeeded,
            failed: s.failed,
            attempts: s.attempts,
            p50_ms: s.percentile(0.5),
            p95_ms: s.percentile(0.95),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct StatsBucket {
    /// RFC 3339: the hour's or day's start.
    #[schema(format = DateTime)]
    pub start: String,
    #[serde(flatten)]
    pub figures: StatsFigures,
}

/// A webhook's health.
#[derive(Serialize, ToSchema)]
pub struct StatsOut {
    #[schema(pattern = "^(24h|7d)$")]
    pub window: String,
    #[schema(pattern = "^(hour|day)$")]
    pub bucket: String,
    /// Succeeded attempts of the window out of all, 0–1, or `null` without attempts.
    #[schema(required = true)]
    pub success_rate: Option<f64>,
    pub totals: StatsFigures,
    /// Oldest first; the last is the current hour or day.
    pub buckets: Vec<StatsBucket>,
}

/// A webhook's health over the last 24 hours or 7 days.
#[utoipa::path(
    get,
    path = "/api/v1/webhooks/{id}/stats",
    tag = "deliveries",
    operation_id = "webhook_stats",
    params(("id" = i64, Path, description = "The webhook's id", minimum = 1), StatsQuery, WorkspaceHeader),
    responses(
        (status = 200, description = "The health", body = Envelope<StatsOut>),
        (status = 404, description = "No such webhook in this workspace", body = ErrorEnvelope),
        (status = 422, description = "`window` is not 24h or 7d (`validation_failed`)", body = ErrorEnvelope),
        ScopeErrors,
    )
)]
pub async fn get(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
    q: web::Query<StatsQuery>,
) -> ApiResult {
    let ws = caller.workspace(Scope::Webhooks)?.id;
    let webhook = path_id(&id, "webhook")?;
    let window = Window::parse(q.window.as_deref())?;
    let h = stats::health(&state, ws, webhook, window).await?;
    Ok(envelope(
        StatusCode::OK,
        StatsOut {
            window: window.as_str().to_string(),
            bucket: if window == Window::Day { "hour" } else { "day" }.to_string(),
            success_rate: h.success_rate(),
            totals: StatsFigures::from(&h.total),
            buckets: h
                .buckets
                .iter()
                .map(|b| StatsBucket {
                    start: rfc3339(b.start),
                    figures: StatsFigures::from(&b.stats),
                })
                .collect(),
        },
    ))
}
