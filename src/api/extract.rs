//! Extractors for the API: the bearer-key caller and a JSON body whose every failure is an
//! enveloped 4xx naming what is wrong.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::auth::{token_hash, ApiCaller};
use crate::clock::now_ms;
use crate::domain::Scope;
use crate::state::AppState;
use crate::store::types::{CallerLookup, Workspace};

/// Parses a numeric id from the path; anything else is simply not found.
pub fn path_id(raw: &str, what: &str) -> Result<i64, ApiError> {
    crate::domain::parse_id(raw).ok_or_else(|| ApiError::not_found(what))
}

/// The header that tells an instance key which workspace to act in.
pub const WORKSPACE_HEADER: &str = "Hookline-Workspace";

/// An authenticated API caller and, when known, the workspace it acts in.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key: ApiCaller,
    pub workspace: Option<Workspace>,
}

impl Caller {
    /// 403 unless the key carries `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.key.scopes.has(scope) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "this API key lacks the '{}' scope; create a key with --scopes {}",
                scope.as_str(),
                scope.as_str()
            )))
        }
    }

    /// The workspace this request acts in, with the scope checked.
    pub fn workspace(&self, scope: Scope) -> Result<&Workspace, ApiError> {
        self.require(scope)?;
        self.workspace.as_ref().ok_or_else(|| {
            ApiError::bad_request(format!(
                "an instance key must name the workspace to act in: send the {WORKSPACE_HEADER} header with its slug"
            ))
            .with_field(WORKSPACE_HEADER)
        })
    }

    /// Who changes made with this key are recorded as.
    pub fn actor(&self) -> crate::service::Actor {
        crate::service::Actor(self.key.label.clone())
    }

    /// Provisioning (workspaces and their keys): an instance key with the `workspaces` scope.
    pub fn require_provisioning(&self) -> Result<(), ApiError> {
        self.require_instance().map_err(|_| {
            ApiError::forbidden(
                "provisioning needs an instance API key with the workspaces scope (hookline api-key create --instance --scopes workspaces)",
            )
        })?;
        self.require(Scope::Workspaces)
    }

    /// 403 unless this is an instance key.
    pub fn require_instance(&self) -> Result<(), ApiError> {
        if self.key.key_workspace_id.is_none() {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "only an instance API key may do this (hookline api-key create --instance)",
            ))
        }
    }
}

fn bearer(req: &HttpRequest) -> Result<String, ApiError> {
    let values = req
        .headers()
        .get_all(actix_web::http::header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    crate::auth::bearer_token(values)
        .map(str::to_string)
        .map_err(|e| ApiError::unauthorized(e.message()))
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Caller, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .expect("AppState registered")
                .clone();
            let token = bearer(&req)?;
            let ws_header = match req.headers().get(WORKSPACE_HEADER) {
                None => None,
                Some(v) => Some(
                    v.to_str()
                        .map_err(|_| {
                            ApiError::bad_request("the Hookline-Workspace header is not valid text")
                        })?
                        .trim()
                        .to_string(),
                ),
            };
            let hash = token_hash(&token);
            let found = state.store.api_caller(hash, ws_header).await?;
            let (key, workspace) = match found {
                CallerLookup::NoKey => {
                    return Err(ApiError::unauthorized(
                        "this API key is not valid: it was revoked or mistyped",
                    ))
                }
                CallerLookup::UnknownWorkspace(slug) => {
                    return Err(ApiError::not_found(&format!("workspace '{slug}'")))
                }
                CallerLookup::Found(key, ws) => (key, ws),
            };
            // Record use at most once a minute per key, off the request's path.
            let now = now_ms();
            if key.last_used_at.is_none_or(|t| now - t > 60_000) {
                let store = state.store.clone();
                let id = key.id;
                tokio::spawn(async move {
                    let _ = store.api_key_touch(id, now).await;
                });
            }
            Ok(Caller {
                key: ApiCaller {
                    key_id: key.id,
                    key_workspace_id: key.workspace_id,
                    scopes: key.scopes,
                    label: if key.name.is_empty() {
                        format!("API key {}…", key.prefix)
                    } else {
                        format!("API key “{}” ({}…)", key.name, key.prefix)
                    },
                },
                workspace,
            })
        })
    }
}

/// For `Option<Option<T>>` fields of a partial update: `Some(None)` for an explicit `null`
/// (clear it), `None` for an absent field (keep it).
pub fn double_option<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

/// Largest body read by [`ApiJson`] unless a route sets [`BodyLimit`].
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// A per-route body limit, set with `.app_data(BodyLimit(n))`.
#[derive(Clone, Copy)]
pub struct BodyLimit(pub usize);

/// A JSON body. Malformed JSON is a 400, a body of the wrong shape a 422 naming the field,
/// an oversized body a 413. Any `Content-Type` is accepted: the body must be JSON anyway.
pub struct ApiJson<T> {
    pub value: T,
    pub raw: web::Bytes,
}

impl<T: DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let body = read_body(req, payload);
        Box::pin(async move {
            let raw = body.await?;
            let value = parse_json(&raw)?;
            Ok(ApiJson { value, raw })
        })
    }
}

/// An optional JSON body: an empty (or all-whitespace) body is `T::default()`, anything else
/// is parsed like [`ApiJson`], with the same enveloped 400, 413 and 422.
pub struct OptionalJson<T>(pub T);

impl<T: DeserializeOwned + Default + 'static> FromRequest for OptionalJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let body = read_body(req, payload);
        Box::pin(async move {
            let raw = body.await?;
            if raw.iter().all(|b| b.is_ascii_whitespace()) {
                return Ok(OptionalJson(T::default()));
            }
            Ok(OptionalJson(parse_json(&raw)?))
        })
    }
}

/// Reads the whole body up to the route's [`BodyLimit`]; every failure is an enveloped 4xx
/// (never the framework's plain-text error).
fn read_body(
    req: &HttpRequest,
    payload: &mut actix_web::dev::Payload,
) -> impl Future<Output = Result<web::Bytes, ApiError>> + 'static {
    let limit = req
        .app_data::<BodyLimit>()
        .map(|l| l.0)
        .unwrap_or(DEFAULT_BODY_LIMIT);
    let mut payload = payload.take();
    async move {
        let mut body = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| {
                ApiError::bad_request(format!("could not read the request body: {e}"))
            })?;
            if body.len() + chunk.len() > limit {
                return Err(too_large(limit));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    }
}

pub fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("the request body is larger than {} KiB", limit / 1024),
    )
}

/// Parses JSON into `T`, turning every failure into a 400 or 422 that says where.
pub fn parse_json<T: DeserializeOwned>(raw: &[u8]) -> Result<T, ApiError> {
    if raw.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ApiError::bad_request(
            "the request body is empty; send a JSON object",
        ));
    }
    // Syntax first, so a truncated body is reported as malformed even when its first
    // values already have the wrong type. This also holds parts kept raw (an event's `data`)
    // to serde_json's nesting limit (128) and to numbers it can represent.
    if let Err(e) = serde_json::from_slice::<Checked>(raw) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("the body is not valid JSON: {e}"),
        ));
    }
    // Every API body is an object; serde would otherwise accept `["a"]` for a struct.
    if raw.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::unprocessable(
            "body",
            "send a JSON object ({ ... })",
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(raw);
    match serde_path_to_error::deserialize::<_, T>(de) {
        Ok(v) => Ok(v),
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            match inner.classify() {
                serde_json::error::Category::Data => {
                    let field = if path == "." {
                        "body".to_string()
                    } else {
                        path
                    };
                    Err(ApiError::unprocessable(
                        field,
                        strip_position(&inner.to_string()),
                    ))
                }
                _ => Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "malformed_json",
                    format!("the body is not valid JSON: {inner}"),
                )),
            }
        }
    }
}

/// Walks a whole JSON document without keeping it. Unlike `serde::de::IgnoredAny` (which
/// serde_json skips over iteratively, without its recursion limit and without reading
/// numbers), every value goes through `deserialize_any`, so nesting deeper than 128 levels,
/// numbers out of `f64` range, invalid UTF-8 and lone surrogates are all errors. The walk
/// recurses at most 128 levels: deep input cannot exhaust the stack.
struct Checked;

impl<'de> serde::Deserialize<'de> for Checked {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CheckedVisitor)
    }
}

struct CheckedVisitor;

impl<'de> serde::de::Visitor<'de> for CheckedVisitor {
    type Value = Checked;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_str<E>(self, _: &str) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_unit<E>(self) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
        while seq.next_element::<Checked>()?.is_some() {}
        Ok(Checked)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
        while map.next_entry::<Checked, Checked>()?.is_some() {}
        Ok(Checked)
    }
}

fn strip_position(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}
