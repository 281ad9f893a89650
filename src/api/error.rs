//! One JSON error shape for every failure:
//! `{"error": "not_found", "message": "…", "field": "meetings.startDate"}` — a kind a program
//! can match, a sentence a person can act on, and for bad input the path of the field. Internal
//! details stay in the log (the message carries only a reference).

use crate::domain::OpError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ApiError {
    #[serde(skip)]
    #[schema(ignore)]
    pub status: StatusCode,
    /// unauthorized, forbidden, not_found, conflict, invalid, bad_request, bbb, internal, …
    #[schema(value_type = String)]
    pub error: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Every problem found in a request body, when there were several.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, error: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            error,
            message: message.into(),
            field: None,
            errors: Vec::new(),
        }
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// Input that parses but is not acceptable, with where it is.
    pub fn invalid(field: Option<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.filter(|f| !f.is_empty() && f != "."),
            ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
        }
    }
}

impl From<OpError> for ApiError {
    fn from(e: OpError) -> Self {
        let message = e.to_string();
        match e {
            OpError::NotAvailableYet { .. } => {
                Self::new(StatusCode::NOT_IMPLEMENTED, "not_available_yet", message)
            }
            OpError::Forbidden { .. } => Self::new(StatusCode::FORBIDDEN, "forbidden", message),
            OpError::NotFound { .. } => Self::not_found(message),
            OpError::AlreadyExists { .. } => Self::conflict(message),
            OpError::Invalid(_) => Self::invalid(None, message),
            OpError::Bbb { .. } => Self::new(StatusCode::BAD_GATEWAY, "bbb", message),
            OpError::Internal { .. } => {
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status;
        let unauthorized = status == StatusCode::UNAUTHORIZED;
        let mut response = (status, axum::Json(self)).into_response();
        if unauthorized {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"schedulight\""),
            );
        }
        response
    }
}
