//! The `audiotap` binary: see `audiotap --help`.

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("AUDIOTAP_LOG")
                .unwrap_or_else(|_| "audiotap=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    std::process::exit(audiotap::cli::run());
}
