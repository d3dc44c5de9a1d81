//! The job as clients see it (job JSON) and as the store keeps it.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::spec::{EngineKind, OutputSpec, ProbeInfo};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Canceled,
}

impl JobStatus {
    pub const ALL: [JobStatus; 5] = [
        JobStatus::Queued,
        JobStatus::Running,
        JobStatus::Succeeded,
        JobStatus::Failed,
        JobStatus::Canceled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Canceled => "canceled",
        }
    }

    pub fn parse(s: &str) -> Option<JobStatus> {
        JobStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Succeeded | JobStatus::Failed | JobStatus::Canceled
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StepName {
    Fetch,
    Probe,
    Extract,
    Store,
    Notify,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StepStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Step {
    pub name: StepName,
    pub status: StepStatus,
    #[serde(with = "time::serde::rfc3339::option", default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub started_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<OffsetDateTime>,
    pub duration_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Url,
    Upload,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobSource {
    pub kind: SourceKind,
    /// The URL of a URL source (credentials, if any, removed).
    pub url: Option<String>,
    /// The uploaded file's name, as the client gave it.
    pub filename: Option<String>,
    /// Bytes received or downloaded.
    pub size: Option<u64>,
    /// Where an upload waits in shared object storage, when the job store is shared by
    /// several nodes (any of them may run the job); absent when it waits on this node's disk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// For a URL source: how it was read (`range`: only `moov` and the audio's chunks) and
    /// the bytes fetched against the source's size.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub fetch: Option<crate::net::FetchSummary>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobOutput {
    /// Where to download it (`/v1/jobs/{id}/output`).
    pub url: String,
    /// The object's key in storage.
    pub key: String,
    pub content_type: String,
    pub size: u64,
    pub sha256: String,
    pub duration: f64,
    pub sample_rate: u32,
    pub channels: u16,
    pub bit_depth: Option<u16>,
    pub codec: String,
    /// True when the source packets were copied untouched.
    pub copied: bool,
    #[schema(value_type = String)]
    pub engine: EngineKind,
    pub audio_offset: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobError {
    /// Stable machine-readable code (`no_audio_track`, `invalid_media`, ...).
    pub code: crate::ErrorCode,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Waiting for the job to end, or for the next attempt.
    Pending,
    Delivered,
    /// Every attempt failed.
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WebhookAttempt {
    pub attempt: u32,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
    /// HTTP status answered, if any.
    pub status: Option<u16>,
    pub error: Option<String>,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WebhookInfo {
    pub url: String,
    /// `webhook-id` of the message: the same on every attempt.
    pub message_id: String,
    /// `job.succeeded`, `job.failed` or `job.canceled`, once the job has ended.
    pub event: Option<String>,
    pub status: DeliveryStatus,
    pub attempts: Vec<WebhookAttempt>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_attempt_at: Option<OffsetDateTime>,
}

/// One extraction job: the job JSON of the HTTP contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Job {
    #[schema(value_type = String, format = Uuid)]
    pub id: Uuid,
    pub status: JobStatus,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option", default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub started_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<OffsetDateTime>,
    /// 0..=1.
    pub progress: f64,
    /// Times the job has been started (a crash or transient failure starts it again).
    pub attempts: u32,
    /// The node (`AUDIOTAP_NODE_ID`) running the current attempt, or that ran the last one.
    #[serde(default)]
    pub node: Option<String>,
    pub source: JobSource,
    pub steps: Vec<Step>,
    /// The probe of the input, once read.
    pub input: Option<ProbeInfo>,
    pub output_spec: OutputSpec,
    pub output: Option<JobOutput>,
    pub error: Option<JobError>,
    pub webhook: Option<WebhookInfo>,
    /// The client's own data, returned as given.
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
}

impl Job {
    pub fn new(
        source: JobSource,
        output_spec: OutputSpec,
        webhook_url: Option<String>,
        metadata: serde_json::Value,
    ) -> Job {
        let now = OffsetDateTime::now_utc();
        let id = Uuid::now_v7();
        let steps = [
            StepName::Fetch,
            StepName::Probe,
            StepName::Extract,
            StepName::Store,
            StepName::Notify,
        ]
        .into_iter()
        .map(|name| Step {
            name,
            status: StepStatus::Pending,
            started_at: None,
            finished_at: None,
            duration_ms: None,
        })
        .collect();
        Job {
            id,
            status: JobStatus::Queued,
            created_at: now,
            updated_at: now,
            started_at: None,
            finished_at: None,
            progress: 0.0,
            attempts: 0,
            node: None,
            source,
            steps,
            input: None,
            output_spec,
            output: None,
            error: None,
            webhook: webhook_url.map(|url| WebhookInfo {
                url,
                message_id: format!("msg_{}", id.simple()),
                event: None,
                status: DeliveryStatus::Pending,
                attempts: Vec::new(),
                next_attempt_at: None,
            }),
            metadata,
        }
    }

    /// A worker on `node` takes the job (queued, or running under an expired lease): the
    /// attempt is counted and any step a dead attempt left running starts over.
    pub fn begin_attempt(&mut self, node: &str) {
        let now = OffsetDateTime::now_utc();
        self.status = JobStatus::Running;
        self.attempts += 1;
        self.node = Some(node.to_string());
        self.started_at.get_or_insert(now);
        self.updated_at = now;
        self.progress = 0.0;
        for s in &mut self.steps {
            if s.status == StepStatus::Running {
                s.status = StepStatus::Pending;
            }
        }
    }

    pub fn step_mut(&mut self, name: StepName) -> &mut Step {
        let i = self.steps.iter().position(|s| s.name == name).unwrap_or(0);
        &mut self.steps[i]
    }

    pub fn start_step(&mut self, name: StepName) {
        let s = self.step_mut(name);
        s.status = StepStatus::Running;
        s.started_at = Some(OffsetDateTime::now_utc());
        s.finished_at = None;
        s.duration_ms = None;
    }

    pub fn end_step(&mut self, name: StepName, status: StepStatus) {
        let now = OffsetDateTime::now_utc();
        let s = self.step_mut(name);
        s.status = status;
        if s.started_at.is_none() && status != StepStatus::Skipped {
            s.started_at = Some(now);
        }
        s.finished_at = Some(now);
        s.duration_ms = s
            .started_at
            .map(|t| (now - t).whole_milliseconds().max(0) as u64);
    }

    /// End the job in a terminal state, arming its webhook.
    pub fn finish(&mut self, status: JobStatus) {
        let now = OffsetDateTime::now_utc();
        self.status = status;
        self.finished_at = Some(now);
        self.updated_at = now;
        if status == JobStatus::Succeeded {
            self.progress = 1.0;
        }
        for s in &mut self.steps {
            if s.status == StepStatus::Running {
                s.status = if status == JobStatus::Succeeded {
                    StepStatus::Succeeded
                } else {
                    StepStatus::Failed
                };
                s.finished_at = Some(now);
            } else if s.status == StepStatus::Pending && s.name != StepName::Notify {
                s.status = StepStatus::Skipped;
            }
        }
        match &mut self.webhook {
            Some(w) => {
                w.event = Some(format!("job.{}", status.as_str()));
                w.status = DeliveryStatus::Pending;
                w.next_attempt_at = Some(now);
            }
            None => self.end_step(StepName::Notify, StepStatus::Skipped),
        }
    }
}
