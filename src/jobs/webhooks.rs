//! Webhook delivery: a dispatcher claims due deliveries through the job store (so any node
//! sends them, and they survive restarts), signs each with the Standard Webhooks scheme,
//! records every attempt on the job and schedules the next one.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use uuid::Uuid;

use super::Services;
use super::model::{DeliveryStatus, StepName, StepStatus, WebhookAttempt};
use crate::net::webhook::RetrySchedule;

/// Deliver due webhooks until shutdown. Attempts are recorded on the job, so a restart
/// resumes the schedule; the message id stays the same on every attempt.
pub async fn run_webhooks(svc: Arc<Services>) {
    let limit = Arc::new(tokio::sync::Semaphore::new(8));
    loop {
        if svc.is_shutting_down() {
            return;
        }
        let free = limit.available_permits() as u32;
        if free > 0 {
            // A claimed delivery is hidden from the other nodes for WEBHOOK_HOLD; the
            // attempt's own update sets the next due time.
            match svc
                .store
                .claim_webhooks(OffsetDateTime::now_utc(), free, WEBHOOK_HOLD)
                .await
            {
                Ok(jobs) => {
                    for job in jobs {
                        let Ok(permit) = limit.clone().acquire_owned().await else {
                            return;
                        };
                        let s = svc.clone();
                        tokio::spawn(async move {
                            deliver(&s, job.id).await;
                            drop(permit);
                        });
                    }
                }
                Err(e) => tracing::error!(error = %e, "cannot claim due webhooks"),
            }
        }
        tokio::select! {
            _ = svc.wake_webhooks.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
}

/// Longer than one delivery attempt can take (its HTTP timeout).
const WEBHOOK_HOLD: Duration = Duration::from_secs(120);

async fn deliver(svc: &Services, id: Uuid) {
    let Ok(Some(mut job)) = svc.store.get(id, None).await else {
        return;
    };
    let Some(hook) = job.webhook.clone() else {
        return;
    };
    if hook.status != DeliveryStatus::Pending || !job.status.is_terminal() {
        return;
    }
    // The payload carries the job as it ended, without the delivery log, so every attempt
    // sends the same bytes.
    let mut snapshot = job.clone();
    snapshot.webhook = None;
    snapshot.updated_at = job.finished_at.unwrap_or(job.updated_at);
    for step in snapshot
        .steps
        .iter_mut()
        .filter(|s| s.name == StepName::Notify)
    {
        step.status = StepStatus::Pending;
        step.started_at = None;
        step.finished_at = None;
        step.duration_ms = None;
    }
    let event = hook
        .event
        .clone()
        .unwrap_or_else(|| format!("job.{}", job.status.as_str()));
    let body = serde_json::json!({
        "type": event,
        "timestamp": job.finished_at.unwrap_or(job.updated_at).format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "data": snapshot,
    });
    let body = serde_json::to_vec(&body).unwrap_or_default();
    let attempt_no = hook.attempts.len() as u32 + 1;
    if attempt_no == 1 {
        job.start_step(StepName::Notify);
    }
    let result = if let Err(e) = reqwest::Url::parse(&hook.url)
        .map_err(|e| e.to_string())
        .and_then(|u| svc.guard.check_url(&u).map_err(|e| e.to_string()))
    {
        crate::net::webhook::DeliveryAttempt {
            attempt: attempt_no,
            at: OffsetDateTime::now_utc(),
            status: None,
            error: Some(e),
            duration_ms: 0,
            retry_after: None,
        }
    } else {
        crate::net::webhook::deliver_once(
            &svc.http,
            &hook.url,
            &svc.webhook_secret,
            &hook.message_id,
            &body,
        )
        .await
    };
    let ok = result.status.is_some_and(|s| (200..300).contains(&s));
    metrics::counter!("audiotap_webhook_attempts_total", "ok" => if ok { "true" } else { "false" })
        .increment(1);
    let schedule = RetrySchedule {
        base: Duration::from_millis(svc.config.webhook_backoff_base_ms),
        max: Duration::from_millis(svc.config.webhook_backoff_max_ms),
        max_attempts: svc.config.webhook_max_attempts,
    };
    let next = if ok {
        None
    } else {
        schedule.next_delay(attempt_no, result.retry_after, &mut rand::rng())
    };
    let Some(w) = job.webhook.as_mut() else {
        return;
    };
    w.attempts.push(WebhookAttempt {
        attempt: attempt_no,
        at: result.at,
        status: result.status,
        error: result.error.clone(),
        duration_ms: result.duration_ms,
    });
    match (ok, next) {
        (true, _) => {
            w.status = DeliveryStatus::Delivered;
            w.next_attempt_at = None;
            job.end_step(StepName::Notify, StepStatus::Succeeded);
        }
        (false, Some(delay)) => {
            w.next_attempt_at = Some(OffsetDateTime::now_utc() + delay);
        }
        (false, None) => {
            w.status = DeliveryStatus::Failed;
            w.next_attempt_at = None;
            job.end_step(StepName::Notify, StepStatus::Failed);
        }
    }
    job.updated_at = OffsetDateTime::now_utc();
    if let Err(e) = svc.store.update(&job).await {
        tracing::error!(error = %e, "cannot record a webhook attempt");
    }
}
