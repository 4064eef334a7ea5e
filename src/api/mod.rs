//! The REST API under `/api/v1`.

pub mod deliveries;
pub mod error;
pub mod event_types;
pub mod events;
pub mod extract;
pub mod pagination;
pub mod webhooks;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

pub use error::{envelope, page, ApiError, ApiResult};
pub use extract::{ApiJson, Caller};

/// Registers every `/api/v1` route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .app_data(
                web::PathConfig::default()
                    .error_handler(|_, _| ApiError::not_found("resource").into()),
            )
            .app_data(web::QueryConfig::default().error_handler(|e, _| {
                ApiError::bad_request(format!("bad query string: {e}")).into()
            }))
            .service(
                web::resource("/event-types")
                    .route(web::get().to(event_types::list))
                    .route(web::post().to(event_types::create))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/webhooks/events")
                    .route(web::get().to(event_types::list))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/webhooks")
                    .route(web::get().to(webhooks::list))
                    .route(web::post().to(webhooks::create))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/webhooks/{id}")
                    .route(web::get().to(webhooks::get))
                    .route(web::patch().to(webhooks::update))
                    .route(web::delete().to(webhooks::delete))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/webhooks/{id}/rotate-secret")
                    .route(web::post().to(webhooks::rotate_secret))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/webhooks/{id}/test")
                    .route(web::post().to(webhooks::send_test))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/webhooks/{id}/deliveries")
                    .route(web::get().to(deliveries::list))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/deliveries/{id}")
                    .route(web::get().to(deliveries::get))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/deliveries/{id}/retry")
                    .route(web::post().to(deliveries::retry))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/events")
                    .app_data(extract::BodyLimit(events::SINGLE_BODY_LIMIT))
                    .route(web::post().to(events::create))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/events/batch")
                    .app_data(extract::BodyLimit(events::BATCH_BODY_LIMIT))
                    .route(web::post().to(events::batch))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/events/{id}")
                    .route(web::get().to(events::get))
                    .default_service(web::to(method_not_allowed)),
            )
            .default_service(web::to(not_found)),
    );
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
