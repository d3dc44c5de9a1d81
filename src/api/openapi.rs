//! The OpenAPI document, generated from the handlers' annotations and the types they use,
//! and the route that serves it; `openapi/openapi.yaml` is kept equal to it by a test.

use axum::Json;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "audiotap", description = "Extract the audio track from video: jobs, live job events, resumable (tus) uploads, synchronous extraction, downloads, and a page to try it."),
    paths(
        super::jobs::create_job,
        super::jobs::list_jobs,
        super::jobs::get_job,
        super::jobs::delete_job,
        super::jobs::get_output,
        super::events::job_events,
        super::uploads::discover::discover,
        super::uploads::create::create,
        super::uploads::status::status,
        super::uploads::append::append,
        super::uploads::terminate::terminate,
        super::sync::extract,
        super::system::healthz,
        super::system::readyz,
        super::system::metrics,
        openapi_json,
        super::page::index,
        super::page::asset,
    ),
    components(schemas(super::error::Problem, crate::jobs::model::Job, super::jobs::JobList)),
    modifiers(&BearerAuth),
    tags((name = "jobs"), (name = "uploads", description = "tus 1.0 resumable uploads"), (name = "extract"), (name = "system"), (name = "page"))
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// This API's OpenAPI document.
#[utoipa::path(get, path = "/openapi.json", tag = "system", responses((status = 200, description = "OpenAPI 3.1 document", body = Object)))]
pub(crate) async fn openapi_json() -> Response {
    Json(ApiDoc::openapi()).into_response()
}

/// The document as YAML (what `openapi/openapi.yaml` holds).
pub fn yaml() -> String {
    ApiDoc::openapi().to_yaml().unwrap_or_default()
}
