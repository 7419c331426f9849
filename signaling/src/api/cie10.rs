//! CIE-10 search for the note's diagnosis field.

use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::CurrentUser;
use crate::clinical::cie10;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::ApiQuery;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct Cie10Query {
    /// Code prefix or words of the Spanish description (accents optional).
    pub q: String,
    /// At most 50; default 20.
    pub limit: Option<usize>,
}

#[derive(Serialize, ToSchema)]
pub struct Cie10Entry {
    pub code: &'static str,
    pub description: &'static str,
}

/// Searches the CIE-10 catalogue.
#[utoipa::path(get, path = "/api/cie10", params(Cie10Query),
    responses((status = 200, body = Vec<Cie10Entry>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn search(_user: CurrentUser, ApiQuery(query): ApiQuery<Cie10Query>) -> ApiResult<Json<Vec<Cie10Entry>>> {
    if query.q.chars().count() > 100 {
        return Err(ApiError::bad_request(
            "validation",
            "q must have at most 100 characters",
        ));
    }
    let limit = query.limit.unwrap_or(20).min(50);
    Ok(Json(
        cie10::search(&query.q, limit)
            .into_iter()
            .map(|c| Cie10Entry {
                code: c.code,
                description: c.description,
            })
            .collect(),
    ))
}
