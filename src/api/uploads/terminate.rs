//! `DELETE /v1/uploads/{id}`: tus termination.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use time::OffsetDateTime;

use super::protocol::{self, TUS_RESUMABLE, TUS_VERSION, TusResult};
use super::reply::{ended, not_found, parse_id};
use super::{finish, receive};
use crate::api::error::{ApiError, Problem};
use crate::api::state::{AppState, Caller};
use crate::jobs::uploads::UploadState;

/// Stop an upload and remove its bytes (tus termination). A complete upload's job is not
/// touched (cancel it with `DELETE /v1/jobs/{id}`).
#[utoipa::path(
    delete, path = "/v1/uploads/{id}", tag = "uploads", operation_id = "terminate_upload",
    params(("id" = String, Path, description = "Upload id"), ("Tus-Resumable" = String, Header, description = "1.0.0")),
    responses(
        (status = 204, description = "Terminated"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "Already terminated or expired", body = Problem, content_type = "application/problem+json"),
        (status = 412, body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = []))
)]
pub(crate) async fn terminate(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> TusResult<Response> {
    protocol::check_version(&headers)?;
    let uid = parse_id(&id)?;
    let svc = &state.svc;
    let keep = OffsetDateTime::now_utc() + finish::expiry(svc);
    let uploads = svc.store.uploads();
    match uploads
        .end_upload(uid, caller.owner.as_deref(), UploadState::Terminated, keep)
        .await
        .map_err(ApiError::from)?
    {
        Some(was) => {
            receive::remove_bytes(svc, &was).await;
            metrics::counter!("audiotap_uploads_terminated_total").increment(1);
            let mut resp = StatusCode::NO_CONTENT.into_response();
            resp.headers_mut()
                .insert(TUS_RESUMABLE.clone(), HeaderValue::from_static(TUS_VERSION));
            Ok(resp)
        }
        None => match uploads
            .get_upload(uid, caller.owner.as_deref())
            .await
            .map_err(ApiError::from)?
        {
            Some(up) => Err(ended(&up)),
            None => Err(not_found(&id)),
        },
    }
}
