//! `GET /v1/jobs/{id}/events`: a job's progress as Server-Sent Events, derived from the
//! job record in the store (polled), so it works on any node whichever node runs the job.
//!
//! Each event's id encodes everything the client has been told so far (attempt, status,
//! each step's status, progress, outputs announced, ended). A client that reconnects with
//! `Last-Event-ID` (to this node or another) therefore gets exactly what changed since,
//! without the server keeping any per-client state.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use uuid::Uuid;

use super::error::{ApiError, ApiResult, Problem};
use super::state::{AppState, Caller};

/// How often the job record is read while the stream is open (the worker records progress
/// at most once a second).
const POLL: Duration = Duration::from_millis(500);

/// What a client has been told: the state the last event left it in.
#[derive(Debug, Clone, Default, PartialEq)]
struct Seen {
    attempts: u64,
    /// First letter of the status; `-` before any status event.
    status: char,
    /// One letter per step (its status), in the job's step order.
    steps: Vec<char>,
    /// Progress in thousandths; `None` before any progress event.
    progress: Option<u32>,
    /// Outputs announced with `output_ready`.
    outputs: usize,
    ended: bool,
}

/// First letter of a status name, `x` for anything unexpected.
fn letter(v: &Value) -> char {
    v.as_str()
        .and_then(|s| s.chars().next())
        .filter(char::is_ascii_lowercase)
        .unwrap_or('x')
}

impl Seen {
    fn start() -> Seen {
        Seen {
            status: '-',
            ..Seen::default()
        }
    }

    /// `attempts.status.steps.progress.outputs.ended`, for example `1.r.sskpp.450.0.0`.
    fn id(&self) -> String {
        let steps: String = if self.steps.is_empty() {
            "-".into()
        } else {
            self.steps.iter().collect()
        };
        let progress = self.progress.map_or("-".to_string(), |p| p.to_string());
        format!(
            "{}.{}.{steps}.{progress}.{}.{}",
            self.attempts,
            self.status,
            self.outputs,
            u8::from(self.ended)
        )
    }

    /// The state a `Last-Event-ID` names; `None` for anything this server did not write.
    fn parse(id: &str) -> Option<Seen> {
        let f: Vec<&str> = id.trim().split('.').collect();
        let [attempts, status, steps, progress, outputs, ended] = f.as_slice() else {
            return None;
        };
        let one = |s: &str| {
            let mut c = s.chars();
            match (c.next(), c.next()) {
                (Some(ch), None) if ch == '-' || ch.is_ascii_lowercase() => Some(ch),
                _ => None,
            }
        };
        let steps: Vec<char> = match *steps {
            "-" => Vec::new(),
            s if s.len() <= 64 && s.chars().all(|c| c.is_ascii_lowercase()) => s.chars().collect(),
            _ => return None,
        };
        Some(Seen {
            attempts: attempts.parse().ok()?,
            status: one(status)?,
            steps,
            progress: match *progress {
                "-" => None,
                p => Some(p.parse().ok().filter(|&p: &u32| p <= 1000)?),
            },
            outputs: outputs.parse().ok().filter(|&n: &usize| n <= 10_000)?,
            ended: match *ended {
                "0" => false,
                "1" => true,
                _ => return None,
            },
        })
    }
}

/// One event of the stream as a client reads it (the body is a sequence of these).
#[derive(utoipa::ToSchema)]
#[allow(
    dead_code,
    reason = "describes the stream in the OpenAPI document only"
)]
pub(crate) struct JobEvent {
    /// `status`, `step`, `progress`, `output_ready` or `end`.
    event: String,
    /// What the client has been told so far: send it back as `Last-Event-ID` to resume.
    id: String,
    /// The event's JSON: `status` {status, attempts, error}; `step` a step of the job JSON;
    /// `progress` {progress}; `output_ready` an output of the job JSON; `end` the job JSON.
    data: String,
}

/// The outputs a job JSON announces: `outputs` when present, else its one `output`.
fn outputs(job: &Value) -> Vec<Value> {
    match job.get("outputs").and_then(Value::as_array) {
        Some(list) => list.clone(),
        None => job
            .get("output")
            .filter(|o| o.is_object())
            .map(|o| vec![o.clone()])
            .unwrap_or_default(),
    }
}

fn is_terminal(status: &Value) -> bool {
    matches!(status.as_str(), Some("succeeded" | "failed" | "canceled"))
}

/// The events that bring a client from `seen` to the job's state `job`, each with the id
/// of the state it leaves the client in.
fn diff(seen: &mut Seen, job: &Value) -> Vec<Event> {
    let mut out = Vec::new();
    let mut push = |seen: &Seen, name: &str, data: Value| {
        out.push(
            Event::default()
                .event(name)
                .id(seen.id())
                .data(data.to_string()),
        );
    };
    let attempts = job["attempts"].as_u64().unwrap_or(0);
    let status = letter(&job["status"]);
    if status != seen.status || attempts != seen.attempts {
        seen.status = status;
        seen.attempts = attempts;
        push(
            seen,
            "status",
            json!({"status": job["status"], "attempts": attempts, "error": job["error"]}),
        );
    }
    let steps = job["steps"].as_array().cloned().unwrap_or_default();
    for (i, step) in steps.iter().enumerate().take(64) {
        let code = match step["status"].as_str() {
            Some("skipped") => 'k',
            _ => letter(&step["status"]),
        };
        if seen.steps.get(i) != Some(&code) {
            seen.steps.resize(seen.steps.len().max(i + 1), 'p');
            seen.steps[i] = code;
            push(seen, "step", step.clone());
        }
    }
    let progress =
        (job["progress"].as_f64().unwrap_or(0.0).clamp(0.0, 1.0) * 1000.0).round() as u32;
    if seen.progress != Some(progress) {
        seen.progress = Some(progress);
        push(
            seen,
            "progress",
            json!({"progress": f64::from(progress) / 1000.0}),
        );
    }
    let list = outputs(job);
    while seen.outputs < list.len() {
        let output = list[seen.outputs].clone();
        seen.outputs += 1;
        push(seen, "output_ready", output);
    }
    if is_terminal(&job["status"]) && !seen.ended {
        seen.ended = true;
        push(seen, "end", job.clone());
    }
    out
}

/// A job's progress as Server-Sent Events: `status`, `step`, `progress`, `output_ready`
/// (each output, as in the job JSON), then `end` (the whole job JSON) and the stream closes.
/// Reconnect with `Last-Event-ID` to get only what changed since; after `end` that answers
/// 204.
#[utoipa::path(
    get, path = "/v1/jobs/{id}/events", tag = "jobs", operation_id = "job_events",
    params(
        ("id" = String, Path, description = "Job id"),
        ("Last-Event-ID" = Option<String>, Header, description = "The id of the last event received: resume after it"),
    ),
    responses(
        (status = 200, description = "The event stream", content_type = "text/event-stream", body = JobEvent),
        (status = 204, description = "Last-Event-ID says the client saw the end already"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = []))
)]
pub(crate) async fn job_events(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let uid = Uuid::parse_str(&id).map_err(|_| ApiError::not_found(format!("no job {id:?}")))?;
    let owner = caller.owner.clone();
    // 404 before the stream starts, with the same rules as GET /v1/jobs/{id}.
    state
        .svc
        .store
        .get(uid, owner.as_deref())
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no job {uid}")))?;
    let seen = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(Seen::parse)
        .unwrap_or_else(Seen::start);
    if seen.ended {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let svc = state.svc.clone();
    let init = (seen, VecDeque::<Event>::new(), true);
    let stream = futures_util::stream::unfold(init, move |(mut seen, mut queue, first)| {
        let (svc, owner) = (svc.clone(), owner.clone());
        async move {
            let mut first = first;
            loop {
                if let Some(ev) = queue.pop_front() {
                    return Some((Ok::<_, Infallible>(ev), (seen, queue, first)));
                }
                if seen.ended {
                    return None;
                }
                if !first {
                    tokio::time::sleep(POLL).await;
                }
                first = false;
                match svc.store.get(uid, owner.as_deref()).await {
                    Ok(Some(job)) => match serde_json::to_value(&job) {
                        Ok(v) => queue.extend(diff(&mut seen, &v)),
                        Err(e) => tracing::warn!(error = %e, "cannot render a job for its events"),
                    },
                    // Gone (deleted from the store): nothing more will happen.
                    Ok(None) => return None,
                    Err(e) => {
                        tracing::warn!(error = %e, job = %uid, "cannot read a job for its events")
                    }
                }
            }
        }
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(status: &str, attempts: u64, steps: &[&str], progress: f64, output: bool) -> Value {
        let names = ["fetch", "probe", "extract", "store", "notify"];
        json!({
            "status": status,
            "attempts": attempts,
            "progress": progress,
            "steps": steps.iter().zip(names).map(|(s, n)| json!({"name": n, "status": s})).collect::<Vec<_>>(),
            "output": if output { json!({"url": "/v1/jobs/x/output"}) } else { Value::Null },
            "error": null,
        })
    }

    fn names(events: &[Event]) -> usize {
        events.len()
    }

    #[test]
    fn ids_round_trip_and_refuse_garbage() {
        let mut s = Seen::start();
        let all = diff(
            &mut s,
            &job(
                "running",
                1,
                &["succeeded", "running", "pending", "pending", "pending"],
                0.25,
                false,
            ),
        );
        assert_eq!(names(&all), 1 + 5 + 1);
        assert_eq!(Seen::parse(&s.id()), Some(s.clone()));
        assert_eq!(s.id(), "1.r.srppp.250.0.0");
        for bad in [
            "",
            "1.r",
            "x.r.s.1.0.0",
            "1.R.s.1.0.0",
            "1.r.s.1001.0.0",
            "1.r.s.1.0.2",
            "1.rr.s.1.0.0",
        ] {
            assert_eq!(Seen::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn only_changes_are_sent_and_resume_continues_where_the_client_was() {
        let mut s = Seen::start();
        diff(
            &mut s,
            &job(
                "running",
                1,
                &["succeeded", "running", "pending", "pending", "pending"],
                0.25,
                false,
            ),
        );
        let at = s.id();
        // Nothing changed: nothing sent.
        assert!(
            diff(
                &mut s,
                &job(
                    "running",
                    1,
                    &["succeeded", "running", "pending", "pending", "pending"],
                    0.25,
                    false
                )
            )
            .is_empty()
        );
        let done = job(
            "succeeded",
            1,
            &[
                "succeeded",
                "succeeded",
                "succeeded",
                "succeeded",
                "skipped",
            ],
            1.0,
            true,
        );
        let mut live = s.clone();
        let tail = diff(&mut live, &done);
        // status, probe, extract, store, notify, progress, output_ready, end
        assert_eq!(tail.len(), 8);
        assert!(live.ended);
        // A client that reconnects with the id it had gets the same events.
        let mut resumed = Seen::parse(&at).unwrap();
        assert_eq!(diff(&mut resumed, &done).len(), 8);
        assert_eq!(resumed, live);
        // A retry (attempt 2) is announced even though the status letter is the same.
        let mut s2 = Seen::parse(&at).unwrap();
        let again = diff(
            &mut s2,
            &job(
                "running",
                2,
                &["succeeded", "running", "pending", "pending", "pending"],
                0.25,
                false,
            ),
        );
        assert_eq!(again.len(), 1);
    }

    #[test]
    fn many_outputs_are_announced_one_by_one() {
        let mut s = Seen::start();
        let mut j = job("running", 1, &[], 0.5, false);
        j["outputs"] = json!([{"name": "speech"}]);
        assert_eq!(diff(&mut s, &j).len(), 3);
        j["outputs"] = json!([{"name": "speech"}, {"name": "peaks", "kind": "waveform"}]);
        assert_eq!(diff(&mut s, &j).len(), 1);
        assert_eq!(s.outputs, 2);
    }
}
