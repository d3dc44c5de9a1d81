//! `deploy/` (docker-compose and Kubernetes manifests) is valid YAML and agrees with the
//! code: every AUDIOTAP_* variable it sets exists, the settings pass the service's own
//! validation, probes hit /healthz and /readyz, roles are real, and the references between
//! objects (Service → api pods, HPA → Deployments, envFrom → ConfigMap/Secret, kustomize
//! resources → files) resolve. No Docker engine or cluster is needed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use audiotap::config::Config;
use yaml_serde::Value;

use crate::support::root;

fn docs(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    for doc in yaml_serde::Deserializer::from_str(&text) {
        let mut v: Value = serde::Deserialize::deserialize(doc)
            .unwrap_or_else(|e| panic!("{}: invalid YAML: {e}", path.display()));
        // Compose uses `<<: *anchor` merge keys.
        v.apply_merge()
            .unwrap_or_else(|e| panic!("{}: merge keys: {e}", path.display()));
        if !v.is_null() {
            out.push(v);
        }
    }
    out
}

fn s<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    let mut cur = v;
    for k in path {
        cur = cur
            .get(*k)
            .unwrap_or_else(|| panic!("missing {path:?} in {v:?}"));
    }
    cur
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("not a scalar: {other:?}"),
    }
}

/// Every `AUDIOTAP_*` name the service reads: its settings, plus the log filter in main.rs.
fn known_variables() -> BTreeSet<String> {
    let mut names: BTreeSet<String> = Config::env_variables().collect();
    let main = std::fs::read_to_string(root().join("src/main.rs")).unwrap();
    for part in main.split('"').skip(1).step_by(2) {
        if part.starts_with("AUDIOTAP_")
            && part
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b == b'_' || b.is_ascii_digit())
        {
            names.insert(part.to_string());
        }
    }
    for name in ["AUDIOTAP_DATABASE_URL", "AUDIOTAP_ROLE", "AUDIOTAP_LOG"] {
        assert!(names.contains(name), "{name} in {names:?}");
    }
    names
}

/// The settings a node would start with, through the service's own loading and validation.
fn validated(env: &BTreeMap<String, String>, what: &str) -> Config {
    let known = known_variables();
    for k in env.keys().filter(|k| k.starts_with("AUDIOTAP_")) {
        assert!(
            known.contains(k),
            "{what}: {k} is not a setting audiotap reads"
        );
    }
    Config::load_from(None, env.clone()).unwrap_or_else(|e| panic!("{what}: {e}"))
}

fn role_of(args: &Value) -> String {
    let args: Vec<String> = args.as_sequence().unwrap().iter().map(text).collect();
    assert_eq!(args.first().map(String::as_str), Some("serve"), "{args:?}");
    let i = args
        .iter()
        .position(|a| a == "--role")
        .unwrap_or_else(|| panic!("no --role in {args:?}"));
    let role = args[i + 1].clone();
    assert!(
        ["api", "worker", "all"].contains(&role.as_str()),
        "{args:?}"
    );
    role
}

#[test]
fn docker_compose_is_valid_and_matches_the_service() {
    let path = root().join("deploy/docker-compose.yml");
    let d = docs(&path);
    assert_eq!(d.len(), 1);
    let services = s(&d[0], &["services"]).as_mapping().unwrap();
    let names: BTreeSet<String> = services.keys().map(text).collect();
    for want in ["api", "worker", "postgres", "minio", "bucket"] {
        assert!(names.contains(want), "no {want} service: {names:?}");
    }
    let mut roles = BTreeSet::new();
    for (name, svc) in services {
        let name = text(name);
        let Some(cmd) = svc.get("command") else {
            continue;
        };
        if !svc
            .get("image")
            .is_some_and(|i| text(i).starts_with("audiotap"))
        {
            continue;
        }
        roles.insert(role_of(cmd));
        let env: BTreeMap<String, String> = s(svc, &["environment"])
            .as_mapping()
            .unwrap()
            .iter()
            .map(|(k, v)| (text(k), text(v)))
            .collect();
        let cfg = validated(&env, &format!("compose service {name}"));
        assert!(
            cfg.database_url().starts_with("postgres://"),
            "{name}: shared store"
        );
        assert_eq!(
            cfg.storage,
            audiotap::config::StorageKind::S3,
            "{name}: shared storage"
        );
        let secret = cfg
            .webhook_secret
            .as_ref()
            .expect("one webhook secret for all nodes");
        audiotap::net::WebhookSecret::parse(secret.expose())
            .unwrap_or_else(|e| panic!("{name}: webhook secret: {e}"));
        // The database and bucket it names are the compose services.
        assert!(cfg.database_url().contains("@postgres:5432/"), "{name}");
        assert_eq!(cfg.s3_endpoint.as_deref(), Some("http://minio:9000"));
        let hc = text(&s(svc, &["healthcheck", "test"]).as_sequence().unwrap()[3]);
        assert!(hc.contains("/readyz"), "{name}: health check {hc}");
    }
    assert_eq!(
        roles,
        BTreeSet::from(["api".to_string(), "worker".to_string()])
    );
}

#[test]
fn kubernetes_manifests_are_valid_and_consistent() {
    let dir = root().join("deploy/k8s");
    let kustomization = docs(&dir.join("kustomization.yaml"));
    let files: Vec<String> = s(&kustomization[0], &["resources"])
        .as_sequence()
        .unwrap()
        .iter()
        .map(text)
        .collect();
    let mut objects = Vec::new();
    for f in &files {
        assert!(dir.join(f).exists(), "kustomization lists missing {f}");
        objects.extend(docs(&dir.join(f)));
    }
    // Every .yaml in the folder is listed (nothing silently left out).
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".yaml") && name != "kustomization.yaml" {
            assert!(files.contains(&name), "{name} is not in kustomization.yaml");
        }
    }
    let mut by_kind: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for o in &objects {
        assert!(s(o, &["apiVersion"]).is_string());
        assert!(s(o, &["metadata", "name"]).is_string());
        by_kind.entry(text(s(o, &["kind"]))).or_default().push(o);
    }
    let name = |o: &Value| text(s(o, &["metadata", "name"]));
    let config_maps: Vec<&Value> = by_kind["ConfigMap"].clone();
    let secrets: Vec<&Value> = by_kind["Secret"].clone();
    // The node's environment: ConfigMap + Secret, through the service's validation.
    let mut env = BTreeMap::new();
    for cm in &config_maps {
        for (k, v) in s(cm, &["data"]).as_mapping().unwrap() {
            env.insert(text(k), text(v));
        }
    }
    for sec in &secrets {
        for (k, v) in s(sec, &["stringData"]).as_mapping().unwrap() {
            env.insert(text(k), text(v));
        }
    }
    let cfg = validated(&env, "ConfigMap + Secret");
    assert!(cfg.database_url().starts_with("postgres://"));
    assert_eq!(cfg.storage, audiotap::config::StorageKind::S3);
    assert!(
        cfg.webhook_secret.is_some(),
        "all pods need the same webhook secret"
    );

    let mut roles = BTreeMap::new();
    for dep in &by_kind["Deployment"] {
        let labels = s(dep, &["spec", "template", "metadata", "labels"]);
        assert_eq!(
            s(dep, &["spec", "selector", "matchLabels"]),
            labels,
            "{}: selector equals the pod labels",
            name(dep)
        );
        let c = &s(dep, &["spec", "template", "spec", "containers"])
            .as_sequence()
            .unwrap()[0];
        let role = role_of(s(c, &["args"]));
        assert_eq!(
            text(s(&c["livenessProbe"], &["httpGet", "path"])),
            "/healthz"
        );
        assert_eq!(
            text(s(&c["readinessProbe"], &["httpGet", "path"])),
            "/readyz"
        );
        for from in s(c, &["envFrom"]).as_sequence().unwrap() {
            if let Some(r) = from.get("configMapRef") {
                assert!(config_maps.iter().any(|m| name(m) == text(&r["name"])));
            }
            if let Some(r) = from.get("secretRef") {
                assert!(secrets.iter().any(|m| name(m) == text(&r["name"])));
            }
        }
        let env_names: Vec<String> = s(c, &["env"])
            .as_sequence()
            .unwrap()
            .iter()
            .map(|e| text(&e["name"]))
            .collect();
        let known = known_variables();
        for n in &env_names {
            assert!(known.contains(n), "{}: unknown {n}", name(dep));
        }
        assert!(
            env_names.iter().any(|n| n == "AUDIOTAP_NODE_ID"),
            "{}: the pod name as node id",
            name(dep)
        );
        roles.insert(role, (*dep).clone());
    }
    assert_eq!(
        roles.keys().cloned().collect::<Vec<_>>(),
        vec!["api".to_string(), "worker".to_string()]
    );
    // The Service reaches the API pods only.
    let svc = by_kind["Service"][0];
    let selector = s(svc, &["spec", "selector"]).as_mapping().unwrap();
    let api_labels = s(&roles["api"], &["spec", "template", "metadata", "labels"]);
    let worker_labels = s(
        &roles["worker"],
        &["spec", "template", "metadata", "labels"],
    );
    let matches = |labels: &Value| {
        selector
            .iter()
            .all(|(k, v)| labels.get(text(k).as_str()) == Some(v))
    };
    assert!(matches(api_labels), "the Service selects the API pods");
    assert!(
        !matches(worker_labels),
        "the Service must not select workers"
    );
    // Each HPA scales an existing Deployment, on CPU or a metric.
    let deployments: BTreeSet<String> = by_kind["Deployment"].iter().map(|d| name(d)).collect();
    let hpas = &by_kind["HorizontalPodAutoscaler"];
    assert!(
        hpas.iter()
            .any(|h| text(s(h, &["spec", "scaleTargetRef", "name"])) == "audiotap-worker")
    );
    for h in hpas {
        assert_eq!(text(s(h, &["apiVersion"])), "autoscaling/v2");
        assert!(deployments.contains(&text(s(h, &["spec", "scaleTargetRef", "name"]))));
        assert!(!s(h, &["spec", "metrics"]).as_sequence().unwrap().is_empty());
    }
}
