//! `GET /api/v1/event-types`, `GET /api/v1/webhooks/events`, `POST /api/v1/event-types`.

use actix_web::http::StatusCode;
use actix_web::web;
use serde::{Deserialize, Serialize};

use super::{envelope, ApiError, ApiJson, ApiResult, Caller};
use crate::clock::rfc3339;
use crate::db::repo::{self, EventTypeRow};
use crate::domain::EventTypeName;
use crate::startup::AppState;

#[derive(Serialize)]
pub struct EventTypeOut {
    pub name: String,
    pub description: String,
    pub example: Option<serde_json::Value>,
    pub created_at: String,
}

impl From<EventTypeRow> for EventTypeOut {
    fn from(r: EventTypeRow) -> Self {
        EventTypeOut {
            name: r.name,
            description: r.description,
            example: r.example.and_then(|e| serde_json::from_str(&e).ok()),
            created_at: rfc3339(r.created_at),
        }
    }
}

/// Any valid key may list the instance's event types.
pub async fn list(_caller: Caller, state: web::Data<AppState>) -> ApiResult {
    let rows = state.db.read(repo::list_event_types).await?;
    Ok(envelope(
        StatusCode::OK,
        rows.into_iter().map(EventTypeOut::from).collect::<Vec<_>>(),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateEventType {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub example: Option<serde_json::Value>,
}

/// Parsed, valid input for a new event type (shared by the API, the UI and the CLI).
pub struct NewEventType {
    pub name: EventTypeName,
    pub description: String,
    pub example: Option<String>,
}

impl NewEventType {
    pub fn parse(
        name: &str,
        description: &str,
        example: Option<&serde_json::Value>,
    ) -> Result<Self, crate::domain::ValidationError> {
        let name = EventTypeName::parse(name.trim())?;
        let description = description.trim();
        if description.len() > 1000 {
            return Err(crate::domain::ValidationError::new(
                "description",
                "use at most 1000 characters",
            ));
        }
        let example = match example {
            None | Some(serde_json::Value::Null) => None,
            Some(v @ serde_json::Value::Object(_)) => Some(v.to_string()),
            Some(_) => {
                return Err(crate::domain::ValidationError::new(
                    "example",
                    "the example payload must be a JSON object",
                ))
            }
        };
        Ok(NewEventType {
            name,
            description: description.to_string(),
            example,
        })
    }
}

pub async fn create(
    caller: Caller,
    state: web::Data<AppState>,
    body: ApiJson<CreateEventType>,
) -> ApiResult {
    caller.require_instance()?;
    let b = body.value;
    let new = NewEventType::parse(&b.name, &b.description, b.example.as_ref())?;
    let name = new.name.to_string();
    let row = state
        .db
        .write(move |c| {
            repo::create_event_type(c, &new.name, &new.description, new.example.as_deref())
        })
        .await?
        .ok_or_else(|| {
            ApiError::conflict(format!("event type '{name}' already exists")).with_field("name")
        })?;
    Ok(envelope(StatusCode::CREATED, EventTypeOut::from(row)))
}
