//! An attempt's lease on its job: renewed while the attempt runs, and the condition of every
//! write the attempt makes. Losing it (a cancel from any node, or a takeover after the lease
//! ran out) cancels the attempt.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::Services;
use super::model::Job;
use super::store::LeaseState;

/// Renew the lease every third of its length. When the store says the job was canceled
/// (through the API of any node) or is no longer ours, cancel the attempt.
pub(super) async fn keep_lease(
    svc: Arc<Services>,
    id: Uuid,
    attempt: u32,
    stop: CancellationToken,
) {
    let lease = svc.config.lease();
    let mut tick = tokio::time::interval(lease / 3);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        match svc.store.renew_lease(id, &svc.node, attempt, lease).await {
            Ok(LeaseState::Held) => {}
            Ok(state) => {
                tracing::info!(?state, "the job is no longer this attempt's: stopping it");
                stop.cancel();
                return;
            }
            Err(e) => tracing::warn!(error = %e, "cannot renew the job's lease; retrying"),
        }
    }
}

/// Write the attempt's progress; when the lease is gone (canceled, or taken over), stop.
pub(super) async fn save(svc: &Services, job: &Job, stop: &CancellationToken) {
    match svc.store.update_leased(job, svc.config.lease()).await {
        Ok(true) => {}
        Ok(false) => stop.cancel(),
        Err(e) => tracing::warn!(error = %e, "cannot record the job's progress"),
    }
}
