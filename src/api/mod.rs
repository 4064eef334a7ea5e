//! The REST API under `/api/v1`.

pub mod api_keys;
pub mod deliveries;
pub mod error;
pub mod event_types;
pub mod events;
pub mod extract;
pub mod jobs;
pub mod openapi;
pub mod pagination;
pub mod portal_links;
pub mod responses;
pub mod stats;
pub mod webhooks;
pub mod workspaces;

use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};

pub use error::{envelope, page, ApiError, ApiResult, Envelope, ErrorEnvelope, Meta, Page};
pub use extract::{ApiJson, Caller};

/// Where the REST API lives.
pub const PREFIX: &str = "/api/v1";

/// One route of the API: an HTTP method, a path under [`PREFIX`], and the handler attached
/// to it. [`ROUTES`] is the registration itself: [`configure`] registers exactly these, and
/// the OpenAPI test checks that each one is documented.
pub struct ApiRoute {
    pub method: &'static str,
    pub path: &'static str,
    /// The largest request body of the route's resource, when not the default.
    pub body_limit: Option<usize>,
    attach: fn(actix_web::Route) -> actix_web::Route,
}

const fn route(
    method: &'static str,
    path: &'static str,
    attach: fn(actix_web::Route) -> actix_web::Route,
) -> ApiRoute {
    ApiRoute {
        method,
        path,
        body_limit: None,
        attach,
    }
}

impl ApiRoute {
    const fn with_body_limit(mut self, limit: usize) -> ApiRoute {
        self.body_limit = Some(limit);
        self
    }
}

/// Every `/api/v1` route, in matching order (`/webhooks/events` before `/webhooks/{id}`).
/// Publishing comes first: a request is tried against the paths in this order, and each path
/// with a `{param}` before its own costs a regex run (eleven of them took 2% of Hookline's
/// CPU in single publishes).
pub const ROUTES: &[ApiRoute] = &[
    route("POST", "/events", |r| r.to(events::create)).with_body_limit(events::SINGLE_BODY_LIMIT),
    route("POST", "/events/batch", |r| r.to(events::batch))
        .with_body_limit(events::BATCH_BODY_LIMIT),
    route("GET", "/openapi.json", |r| r.to(openapi::serve)),
    route("GET", "/event-types", |r| r.to(event_types::list)),
    route("POST", "/event-types", |r| r.to(event_types::create)),
    route("GET", "/webhooks/events", |r| {
        r.to(event_types::list_for_webhooks)
    }),
    route("GET", "/webhooks", |r| r.to(webhooks::list)),
    route("POST", "/webhooks", |r| r.to(webhooks::create)),
    route("GET", "/webhooks/{id}", |r| r.to(webhooks::get)),
    route("PATCH", "/webhooks/{id}", |r| r.to(webhooks::update)),
    route("DELETE", "/webhooks/{id}", |r| r.to(webhooks::delete)),
    route("POST", "/webhooks/{id}/rotate-secret", |r| {
        r.to(webhooks::rotate_secret)
    }),
    route("POST", "/webhooks/{id}/test", |r| r.to(webhooks::send_test)),
    route("GET", "/webhooks/{id}/deliveries", |r| {
        r.to(deliveries::list)
    }),
    route("GET", "/webhooks/{id}/stats", |r| r.to(stats::get)),
    route("POST", "/webhooks/{id}/bulk-retry", |r| {
        r.to(jobs::bulk_retry)
    }),
    route("POST", "/webhooks/{id}/replay", |r| r.to(jobs::replay)),
    route("GET", "/jobs/{id}", |r| r.to(jobs::get)),
    route("POST", "/jobs/{id}/cancel", |r| r.to(jobs::cancel)),
    route("GET", "/deliveries", |r| r.to(deliveries::search)),
    route("GET", "/deliveries/{id}", |r| r.to(deliveries::get)),
    route("POST", "/deliveries/{id}/retry", |r| {
        r.to(deliveries::retry)
    }),
    route("GET", "/events/{id}", |r| r.to(events::get)),
    route("GET", "/workspaces", |r| r.to(workspaces::list)),
    route("POST", "/workspaces", |r| r.to(workspaces::create)),
    route("GET", "/workspaces/{slug}", |r| r.to(workspaces::get)),
    route("PATCH", "/workspaces/{slug}", |r| r.to(workspaces::update)),
    route("DELETE", "/workspaces/{slug}", |r| r.to(workspaces::delete)),
    route("GET", "/api-keys", |r| r.to(api_keys::list)),
    route("POST", "/api-keys", |r| r.to(api_keys::create)),
    route("DELETE", "/api-keys/{id}", |r| r.to(api_keys::revoke)),
    route("POST", "/portal-links", |r| r.to(portal_links::create)),
];

/// Registers every `/api/v1` route of [`ROUTES`]: one resource per path, in the table's
/// order, answering 405 to the methods it does not have.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let mut scope = web::scope(PREFIX)
        .app_data(
            web::PathConfig::default().error_handler(|_, _| ApiError::not_found("resource").into()),
        )
        .app_data(
            web::QueryConfig::default().error_handler(|e, _| {
                ApiError::bad_request(format!("bad query string: {e}")).into()
            }),
        );
    let mut paths: Vec<&'static str> = Vec::new();
    for r in ROUTES {
        if !paths.contains(&r.path) {
            paths.push(r.path);
        }
    }
    for path in paths {
        let mut resource = web::resource(path);
        if let Some(limit) = ROUTES
            .iter()
            .filter(|r| r.path == path)
            .find_map(|r| r.body_limit)
        {
            resource = resource.app_data(extract::BodyLimit(limit));
        }
        for r in ROUTES.iter().filter(|r| r.path == path) {
            let method = Method::from_bytes(r.method.as_bytes()).expect("a valid HTTP method");
            resource = resource.route((r.attach)(web::route().method(method)));
        }
        scope = scope.service(resource.default_service(web::to(method_not_allowed)));
    }
    cfg.service(scope.default_service(web::to(not_found)));
}

pub async fn not_found(req: HttpRequest) -> ApiResult {
    Err(ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!(
            "no API route {} {}; see /api/v1/openapi.json",
            req.method(),
            req.path()
        ),
    ))
}

pub async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    let e = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} is not allowed on {}", req.method(), req.path()),
    );
    actix_web::ResponseError::error_response(&e)
}

#[cfg(test)]
mod tests {
    use super::ROUTES;

    #[test]
    fn publishing_is_matched_before_any_path_with_a_parameter() {
        let first_param = ROUTES
            .iter()
            .position(|r| r.path.contains('{'))
            .expect("some path has a parameter");
        for (method, path) in [("POST", "/events"), ("POST", "/events/batch")] {
            let at = ROUTES
                .iter()
                .position(|r| r.method == method && r.path == path)
                .unwrap_or_else(|| panic!("{method} {path} is not routed"));
            assert!(
                at < first_param,
                "{method} {path} comes after a {{param}} path"
            );
        }
    }
}
