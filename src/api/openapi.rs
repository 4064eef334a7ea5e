//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document of the REST API, generated from the
//! `#[utoipa::path]` annotations on the handlers and the `ToSchema` types they answer with.

use std::sync::OnceLock;

use actix_web::HttpResponse;
use serde::Serialize;
use utoipa::openapi::schema::{Schema, SchemaType, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{RefOr, Required};
use utoipa::{Modify, OpenApi, ToSchema};

use super::error::{Envelope, ErrorEnvelope};
use super::responses::{
    BadRequest, Forbidden, Internal, MethodNotAllowed, PayloadTooLarge, Unauthorized, Unavailable,
};
use super::{
    api_keys, deliveries, event_types, events, jobs, portal_links, stats, webhooks, workspaces,
};

/// The document: every path below, the schemas they use, the `bearer` security scheme.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Hookline REST API",
        description = "Self-hosted webhook delivery. Every answer is JSON: \
`{\"data\": …, \"meta\": {\"request_id\": \"req_…\"}}` on success (lists add `meta.next_cursor`), \
`{\"error\": {\"code\", \"message\", \"field\"?}, \"meta\": {\"request_id\"}}` on failure. \
Authenticate with `Authorization: Bearer <key>`. A workspace key acts in its workspace; an \
instance key acts in the workspace named by the `Hookline-Workspace` header. Scopes: `webhooks` \
(manage webhooks, read deliveries), `events` (publish), `portal` (make one-time portal links) and \
`workspaces` (provision workspaces and their API keys; instance keys only). A method a path does not document \
answers 405 (`method_not_allowed`), a path that does not exist 404 (`not_found`), both in the \
error envelope.",
        license(name = "MIT")
    ),
    paths(
        health,
        api_health,
        ready,
        api_ready,
        serve,
        event_types::list,
        event_types::list_for_webhooks,
        event_types::create,
        webhooks::list,
        webhooks::create,
        webhooks::get,
        webhooks::update,
        webhooks::delete,
        webhooks::rotate_secret,
        webhooks::send_test,
        deliveries::list,
        deliveries::search,
        deliveries::get,
        deliveries::retry,
        stats::get,
        jobs::bulk_retry,
        jobs::replay,
        jobs::get,
        jobs::cancel,
        events::create,
        events::batch,
        events::get,
        workspaces::list,
        workspaces::create,
        workspaces::get,
        workspaces::update,
        workspaces::delete,
        api_keys::list,
        api_keys::create,
        api_keys::revoke,
        portal_links::create,
    ),
    components(
        schemas(ErrorEnvelope),
        responses(
            BadRequest,
            Unauthorized,
            Forbidden,
            MethodNotAllowed,
            PayloadTooLarge,
            Unavailable,
            Internal
        )
    ),
    modifiers(&BearerScheme, &OptionalBodies),
    security(("bearer" = [])),
    tags(
        (name = "webhooks", description = "Endpoints that receive events"),
        (name = "events", description = "Publishing events"),
        (name = "deliveries", description = "Delivery history and retries"),
        (name = "event-types", description = "The instance's event types"),
        (name = "workspaces", description = "Provisioning the vendor's customers (instance keys with the `workspaces` scope)"),
        (name = "api-keys", description = "A workspace's API keys (instance keys with the `workspaces` scope)"),
        (name = "portal", description = "One-time links into a workspace's settings, for the vendor's app"),
        (name = "meta", description = "Health and this document"),
    )
)]
pub struct ApiDoc;

/// Adds the `bearer` security scheme the operations refer to.
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key made with `hookline api-key create`, sent as \
                         `Authorization: Bearer <key>`.",
                    ))
                    .build(),
            ),
        );
    }
}

/// An `Option<T>` request body means the body may be left out, not that it may be `null`
/// (which is refused like any non-object): describe it as a `T` that is not required.
struct OptionalBodies;

impl Modify for OptionalBodies {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let is_null = |s: &RefOr<Schema>| matches!(s, RefOr::T(Schema::Object(o)) if o.schema_type == SchemaType::Type(Type::Null));
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in operations.into_iter().flatten() {
                let Some(body) = op.request_body.as_mut() else {
                    continue;
                };
                if body.required == Some(Required::True) {
                    continue;
                }
                for content in body.content.values_mut() {
                    if let Some(RefOr::T(Schema::OneOf(one))) = &content.schema {
                        if let [a, b] = one.items.as_slice() {
                            match (is_null(a), is_null(b)) {
                                (true, false) => content.schema = Some(b.clone()),
                                (false, true) => content.schema = Some(a.clone()),
                                _ => {}
                            }
                        }
                    }
                }
                body.required = Some(Required::False);
            }
        }
    }
}

/// The document as JSON, built once.
pub fn document() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        ApiDoc::openapi()
            .to_pretty_json()
            .expect("the OpenAPI document serializes")
    })
}

/// The OpenAPI document itself (not wrapped in the data envelope). No key needed.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "meta",
    operation_id = "openapi",
    security(()),
    responses(
        (status = 200, description = "This OpenAPI 3.1 document",
            content_type = "application/json", body = Object),
    )
)]
pub async fn serve() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document())
}

/// What `/healthz` reports.
#[derive(Serialize, ToSchema)]
pub struct HealthOut {
    /// Always `ok` in a 200.
    #[schema(example = "ok")]
    pub status: String,
    /// Hookline's version.
    #[schema(example = "0.1.0")]
    pub version: String,
}

// The health checks are registered by `startup` (outside the API scope); these two only
// describe them.

/// Liveness and database check. No key needed.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "meta",
    operation_id = "healthz",
    security(()),
    responses(
        (status = 200, description = "Up, and (on SQLite) the database answers; on PostgreSQL liveness only, see /readyz", body = Envelope<HealthOut>),
        (status = 503, description = "The SQLite database does not answer (`unhealthy`)",
            body = ErrorEnvelope),
    )
)]
#[allow(dead_code)]
fn health() {}

/// The same check under the API prefix. No key needed.
#[utoipa::path(
    get,
    path = "/api/v1/healthz",
    tag = "meta",
    operation_id = "api_healthz",
    security(()),
    responses(
        (status = 200, description = "Up, and the database answers", body = Envelope<HealthOut>),
        (status = 503, description = "The database does not answer (`unhealthy`)",
            body = ErrorEnvelope),
    )
)]
#[allow(dead_code)]
fn api_health() {}

/// What `/readyz` reports.
#[derive(Serialize, ToSchema)]
pub struct ReadyOut {
    /// Always `ready` in a 200.
    #[schema(example = "ready")]
    pub status: String,
    /// `sqlite` or `postgres`.
    #[schema(example = "sqlite")]
    pub backend: String,
}

/// Readiness: whether this node should get traffic. No key needed.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "meta",
    operation_id = "readyz",
    security(()),
    responses(
        (status = 200, description = "Ready: the database answers (and, on PostgreSQL, this node's heartbeat reaches it)", body = Envelope<ReadyOut>),
        (status = 503, description = "Not ready (`not_ready`): the database does not answer within 2 s, the node's heartbeat has not reached it for 15 s, or the server is shutting down; the message says which",
            body = ErrorEnvelope),
    )
)]
#[allow(dead_code)]
fn ready() {}

/// The same check under the API prefix. No key needed.
#[utoipa::path(
    get,
    path = "/api/v1/readyz",
    tag = "meta",
    operation_id = "api_readyz",
    security(()),
    responses(
        (status = 200, description = "Ready", body = Envelope<ReadyOut>),
        (status = 503, description = "Not ready (`not_ready`), with the reason", body = ErrorEnvelope),
    )
)]
#[allow(dead_code)]
fn api_ready() {}
