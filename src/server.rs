//! `audiotap serve`: build the services from a [`Config`], bind, run until a signal, then
//! shut down gracefully (stop accepting, let running jobs finish within the grace period,
//! requeue the rest).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use metrics_exporter_prometheus::PrometheusBuilder;

use crate::api::{self, AppState};
use crate::config::{Config, ConfigError, StorageKind};
use crate::jobs::store::JobStore;
use crate::jobs::{self, Services};
use crate::net::webhook::WebhookSecret;
use crate::net::{UrlGuard, client::ClientOptions, client::guarded_client};
use crate::storage::{LocalStore, ObjectStore, S3Config, S3Store};

pub struct Application {
    listener: tokio::net::TcpListener,
    state: AppState,
}

fn metrics_handle() -> metrics_exporter_prometheus::PrometheusHandle {
    // One recorder per process, however many applications it builds.
    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> =
        std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// The webhook signing key: configured, or generated once and kept in the data dir.
fn webhook_secret(cfg: &Config) -> anyhow::Result<WebhookSecret> {
    if let Some(s) = &cfg.webhook_secret {
        return WebhookSecret::parse(s.expose())
            .map_err(ConfigError::from)
            .context("AUDIOTAP_WEBHOOK_SECRET");
    }
    let path = cfg.data_dir.join("webhook_secret");
    if let Ok(text) = std::fs::read_to_string(&path) {
        return WebhookSecret::parse(text.trim())
            .map_err(ConfigError::from)
            .with_context(|| format!("{}", path.display()));
    }
    let (secret, text) = WebhookSecret::generate();
    std::fs::write(&path, &text).with_context(|| format!("cannot write {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
    }
    // Printed once, at first start, so the operator can give it to webhook receivers.
    tracing::warn!(path = %path.display(), "generated a webhook signing secret (shown once): {text}");
    Ok(secret)
}

impl Application {
    pub async fn build(cfg: Config) -> anyhow::Result<Application> {
        cfg.validate()?;
        for dir in [
            cfg.data_dir.clone(),
            cfg.tmp_dir(),
            cfg.data_dir.join("uploads"),
        ] {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let store: Arc<dyn JobStore> = crate::jobs::store::open(&cfg.database_url())
            .await
            .context("job store")?;
        let objects: Arc<dyn ObjectStore> = match cfg.storage {
            StorageKind::Local => {
                Arc::new(LocalStore::new(cfg.storage_dir()).context("local storage")?)
            }
            StorageKind::S3 => Arc::new(
                S3Store::new(S3Config {
                    bucket: cfg.s3_bucket.clone().unwrap_or_default(),
                    endpoint: cfg.s3_endpoint.clone(),
                    region: cfg.s3_region.clone(),
                    prefix: cfg.s3_prefix.clone(),
                    path_style: cfg.s3_path_style,
                })
                .await
                .context("S3 storage")?,
            ),
        };
        let guard = Arc::new(UrlGuard::new(&cfg.url_allowlist).context("url_allowlist")?);
        let http = guarded_client(
            guard.clone(),
            ClientOptions {
                connect_timeout: Duration::from_secs(10),
                timeout: Duration::from_secs(cfg.fetch_timeout_secs),
                max_redirects: 5,
                user_agent: concat!("audiotap/", env!("CARGO_PKG_VERSION")).to_string(),
            },
        )
        .context("HTTP client")?;
        let secret = webhook_secret(&cfg)?;
        let listener = tokio::net::TcpListener::bind(cfg.listen)
            .await
            .with_context(|| format!("cannot listen on {}", cfg.listen))?;
        let sync_slots = Arc::new(tokio::sync::Semaphore::new(cfg.workers.max(1)));
        let upload_slots = Arc::new(tokio::sync::Semaphore::new(cfg.max_concurrent_uploads));
        let svc = Arc::new(Services::new(cfg, store, objects, http, guard, secret));
        jobs::recover(&svc).await?;
        Ok(Application {
            listener,
            state: AppState {
                svc,
                metrics: metrics_handle(),
                sync_slots,
                upload_slots,
            },
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    /// Serve until `shutdown` resolves, then drain.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let svc = self.state.svc.clone();
        let role = svc.config.role;
        // Unfinished resumable uploads are swept wherever uploads are taken.
        let expiry = role
            .serves_api()
            .then(|| tokio::spawn(api::uploads::run_expiry(svc.clone())));
        let (dispatcher, webhooks) = if role.runs_jobs() {
            (
                Some(tokio::spawn(jobs::run_dispatcher(svc.clone()))),
                Some(tokio::spawn(jobs::run_webhooks(svc.clone()))),
            )
        } else {
            (None, None)
        };
        let app = if role.serves_api() {
            api::router(self.state.clone())
        } else {
            api::system_router(self.state.clone())
        };
        tracing::info!(addr = %self.local_addr(), role = role.as_str(), node = %svc.node, store = svc.store.kind(), "audiotap listening");
        axum::serve(
            self.listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
        .context("server")?;
        tracing::info!("shutting down: finishing running jobs");
        svc.begin_shutdown();
        jobs::drain(&svc, Duration::from_secs(svc.config.shutdown_grace_secs)).await;
        for task in [dispatcher, webhooks, expiry].into_iter().flatten() {
            task.abort();
        }
        Ok(())
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// `audiotap serve`.
pub fn serve(
    config_file: Option<&std::path::Path>,
    role: Option<crate::config::Role>,
) -> anyhow::Result<()> {
    let mut cfg = Config::load(config_file)?;
    if let Some(role) = role {
        cfg.role = role;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let app = Application::build(cfg).await?;
        // A stable line scripts (and tests using port 0) read the address from.
        eprintln!("audiotap: listening on http://{}", app.local_addr());
        app.run_until(shutdown_signal()).await
    })
}

/// The HTTP API's OpenAPI document as YAML (`audiotap openapi`).
pub fn openapi_yaml() -> String {
    crate::api::openapi::yaml()
}
