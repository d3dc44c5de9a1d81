//! The S3 server the test run started (Garage, scripts/s3-test-server.sh): its settings
//! for `audiotap serve` and a raw client to look behind the service's back.

use super::skip::server_from_env;

/// Where the test S3 server is and how to sign in to it.
#[derive(Clone, Debug)]
pub struct TestS3 {
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    pub access_key: String,
    pub secret_key: String,
}

impl TestS3 {
    /// From `AUDIOTAP_TEST_S3_*` and `AWS_*`, or `None` to skip `what` (failing instead when
    /// CI is set: there the S3 suites must run).
    pub fn from_env(what: &str) -> Option<TestS3> {
        let endpoint = server_from_env(
            "AUDIOTAP_TEST_S3_ENDPOINT",
            what,
            "scripts/s3-test-server.sh",
        )?;
        let var = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
        Some(TestS3 {
            endpoint,
            bucket: var("AUDIOTAP_TEST_S3_BUCKET", "audiotap-test"),
            region: var("AUDIOTAP_TEST_S3_REGION", "garage"),
            access_key: var("AWS_ACCESS_KEY_ID", ""),
            secret_key: var("AWS_SECRET_ACCESS_KEY", ""),
        })
    }

    /// The same server reached through another endpoint (a relay in front of it).
    pub fn via(&self, endpoint: &str) -> TestS3 {
        TestS3 {
            endpoint: endpoint.to_string(),
            ..self.clone()
        }
    }

    /// The environment that makes `audiotap serve` keep its objects here, under `prefix`.
    pub fn server_env(&self, prefix: &str) -> Vec<(String, String)> {
        vec![
            ("AUDIOTAP_STORAGE".into(), "s3".into()),
            ("AUDIOTAP_S3_ENDPOINT".into(), self.endpoint.clone()),
            ("AUDIOTAP_S3_BUCKET".into(), self.bucket.clone()),
            ("AUDIOTAP_S3_REGION".into(), self.region.clone()),
            ("AUDIOTAP_S3_PREFIX".into(), prefix.to_string()),
            ("AUDIOTAP_S3_PATH_STYLE".into(), "true".into()),
            ("AWS_ACCESS_KEY_ID".into(), self.access_key.clone()),
            ("AWS_SECRET_ACCESS_KEY".into(), self.secret_key.clone()),
        ]
    }

    /// A raw client of the server (path-style addressing, as Garage needs).
    pub fn client(&self) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(aws_sdk_s3::config::Region::new(self.region.clone()))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                &self.access_key,
                &self.secret_key,
                None,
                None,
                "test",
            ))
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }
}
