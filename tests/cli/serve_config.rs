//! `audiotap serve` refusing a bad configuration before it serves: exit 1 and one line,
//! `error[config]`, naming the variable or file key at fault and never a secret.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::{Run, bin, run_cmd};

/// `audiotap serve ARGS` with only the given `AUDIOTAP_*` variables and a scratch data dir.
fn serve(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(bin());
    cmd.arg("serve").args(args);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("AUDIOTAP_") {
            cmd.env_remove(&k);
        }
    }
    cmd.env("AUDIOTAP_LISTEN", "127.0.0.1:0")
        .env("AUDIOTAP_DATA_DIR", data_dir)
        .env("AUDIOTAP_LOG", "off")
        .env("NO_COLOR", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_cmd(cmd, None, Duration::from_secs(60))
}

#[track_caller]
fn refused(run: &Run, names: &str) -> String {
    run.assert_error(1, Some("config"));
    assert!(
        run.stderr.contains(names),
        "names {names}:\n{}",
        run.describe()
    );
    run.stderr.clone()
}

#[test]
fn bad_variables_are_named() {
    let dir = tempfile::tempdir().unwrap();
    for (var, value) in [
        ("AUDIOTAP_WORKERS", "many"),
        ("AUDIOTAP_ROLE", "scheduler"),
        ("AUDIOTAP_S3_PATH_STYLE", "maybe"),
    ] {
        refused(&serve(dir.path(), &[], &[(var, value)]), var);
    }
    // Validation names the setting, whichever layer set it.
    refused(
        &serve(dir.path(), &[], &[("AUDIOTAP_LISTEN", "0.0.0.0:0")]),
        "listen",
    );
    refused(
        &serve(dir.path(), &["--role", "worker"], &[]),
        "AUDIOTAP_DATABASE_URL",
    );
}

#[test]
fn the_file_comes_first_and_its_keys_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.toml");
    refused(
        &serve(dir.path(), &["--config", missing.to_str().unwrap()], &[]),
        "missing.toml",
    );
    let file = dir.path().join("audiotap.toml");
    std::fs::write(&file, "wokers = 4\n").unwrap();
    refused(
        &serve(dir.path(), &["--config", file.to_str().unwrap()], &[]),
        "wokers",
    );
    // The environment overrides the file: its 0 workers are what is refused.
    std::fs::write(&file, "workers = 2\n").unwrap();
    let run = serve(
        dir.path(),
        &["--config", file.to_str().unwrap()],
        &[("AUDIOTAP_WORKERS", "0")],
    );
    refused(&run, "workers = 0");
}

#[test]
fn secrets_are_not_printed() {
    let dir = tempfile::tempdir().unwrap();
    let err = refused(
        &serve(
            dir.path(),
            &[],
            &[("AUDIOTAP_DATABASE_URL", "mysql://root:hunter2@db/audiotap")],
        ),
        "database_url",
    );
    assert!(!err.contains("hunter2"), "{err}");
    let err = refused(
        &serve(
            dir.path(),
            &[],
            &[("AUDIOTAP_WEBHOOK_SECRET", "whsec_hunter2hunter2!")],
        ),
        "AUDIOTAP_WEBHOOK_SECRET",
    );
    assert!(!err.contains("hunter2"), "{err}");
}
