//! The house rules, checked by reading the source: which layer may name which, and no
//! import cycle between files anywhere in `src/`.
//!
//! Every path a file names (`use` trees and paths in code, outside `#[cfg(test)]`) that
//! starts with `crate::`, `super::` or `self::` is resolved to the file that defines its
//! target, following `pub use` re-exports, so `use crate::media::Limits` counts as a use of
//! `media/limits.rs`, not of `media/mod.rs`. The result is a graph of files; the tests
//! below check its edges against the layers and look for cycles.
//!
//! One file (about 570 lines) on purpose: the reader, the resolver and the checks are one
//! tool, and its own test (on a tree it writes) sits beside them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

/// One source file: its module path (`["media", "decode"]`) and what it names.
struct File {
    rel: String,
    module: Vec<String>,
    /// Paths named in the file, each as written (aliases from `use` lines expanded).
    paths: Vec<Vec<String>>,
    /// `pub use` re-exports: exported name -> the path it points to.
    reexports: HashMap<String, Vec<String>>,
}

fn src_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/media/decode/mod.rs` -> `["media", "decode"]`; `src/lib.rs` -> `[]`.
fn module_of(rel: &str) -> Vec<String> {
    let rel = rel.trim_end_matches(".rs");
    let mut parts: Vec<String> = rel.split('/').map(str::to_owned).collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

fn is_cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && a.parse_args::<syn::Meta>()
                .is_ok_and(|m| m.path().is_ident("test"))
    })
}

/// Flatten a `use` tree into full paths (a glob keeps its prefix).
fn use_paths(tree: &syn::UseTree, prefix: &mut Vec<String>, out: &mut Vec<(Vec<String>, String)>) {
    match tree {
        syn::UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            use_paths(&p.tree, prefix, out);
            prefix.pop();
        }
        syn::UseTree::Name(n) => {
            let name = n.ident.to_string();
            let mut full = prefix.clone();
            if name != "self" {
                full.push(name.clone());
            }
            let bound = if name == "self" {
                prefix.last().cloned().unwrap_or_default()
            } else {
                name
            };
            out.push((full, bound));
        }
        syn::UseTree::Rename(r) => {
            let mut full = prefix.clone();
            full.push(r.ident.to_string());
            out.push((full, r.rename.to_string()));
        }
        syn::UseTree::Glob(_) => out.push((prefix.clone(), "*".into())),
        syn::UseTree::Group(g) => {
            for t in &g.items {
                use_paths(t, prefix, out);
            }
        }
    }
}

#[derive(Default)]
struct Collector {
    paths: Vec<Vec<String>>,
    reexports: HashMap<String, Vec<String>>,
    /// Names bound by `use` at the top of the file (`name -> full path`), so that a later
    /// `name::item` in code resolves through them.
    aliases: HashMap<String, Vec<String>>,
}

const RELATIVE: [&str; 3] = ["crate", "super", "self"];

/// External crates a file names: paths whose first segment is neither `crate`, `super`,
/// `self` nor a child module of the file's own module.
fn externs(files: &BTreeMap<Vec<String>, File>, file: &File) -> BTreeSet<String> {
    file.paths
        .iter()
        .filter(|p| absolute(files, &file.module, p).is_none())
        .filter_map(|p| p.first().cloned())
        .filter(|first| !RELATIVE.contains(&first.as_str()))
        .collect()
}

impl Collector {
    fn record(&mut self, path: Vec<String>) {
        let Some(first) = path.first() else { return };
        if RELATIVE.contains(&first.as_str()) {
            self.paths.push(path);
        } else if let Some(full) = self.aliases.get(first) {
            let mut p = full.clone();
            p.extend(path.into_iter().skip(1));
            self.paths.push(p);
        } else if first.chars().next().is_some_and(|c| c.is_ascii_lowercase()) {
            // A child module (`pipeline::run`) or an external crate (`tokio::spawn`):
            // which one is known once every file is read.
            self.paths.push(path);
        }
    }
}

impl<'ast> Visit<'ast> for Collector {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        let attrs: &[syn::Attribute] = match item {
            syn::Item::Mod(m) => &m.attrs,
            syn::Item::Fn(f) => &f.attrs,
            syn::Item::Impl(i) => &i.attrs,
            syn::Item::Use(u) => &u.attrs,
            syn::Item::Struct(s) => &s.attrs,
            syn::Item::Enum(e) => &e.attrs,
            syn::Item::Const(c) => &c.attrs,
            syn::Item::Static(s) => &s.attrs,
            syn::Item::Trait(t) => &t.attrs,
            _ => &[],
        };
        if is_cfg_test(attrs) {
            return;
        }
        if let syn::Item::Use(u) = item {
            let mut out = Vec::new();
            use_paths(&u.tree, &mut Vec::new(), &mut out);
            let public = !matches!(u.vis, syn::Visibility::Inherited);
            for (full, bound) in out {
                if public && bound != "*" {
                    self.reexports.insert(bound.clone(), full.clone());
                }
                if bound != "*" {
                    self.aliases.insert(bound, full.clone());
                }
                self.record(full);
            }
            return;
        }
        syn::visit::visit_item(self, item);
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let segs: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        if segs.len() > 1 {
            self.record(segs);
        }
        syn::visit::visit_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        // Paths inside macro calls (`tokio::select!`, `format!`) are tokens, not syntax.
        self.scan_tokens(&mac.tokens.to_string());
        syn::visit::visit_macro(self, mac);
    }

    fn visit_attribute(&mut self, attr: &'ast syn::Attribute) {
        // Attribute arguments name paths too (`#[openapi(paths(super::system::healthz))]`).
        if let syn::Meta::List(list) = &attr.meta {
            self.scan_tokens(&list.tokens.to_string());
        }
        syn::visit::visit_attribute(self, attr);
    }
}

impl Collector {
    /// Pick `crate::a::b` and `super::a` sequences out of unparsed tokens.
    fn scan_tokens(&mut self, tokens: &str) {
        let text = tokens.replace(' ', "");
        for start in ["crate::", "super::"] {
            for (i, _) in text.match_indices(start) {
                let rest = &text[i..];
                let end = rest
                    .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                    .unwrap_or(rest.len());
                let segs: Vec<String> = rest[..end]
                    .split("::")
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                self.record(segs);
            }
        }
    }
}

fn load() -> BTreeMap<Vec<String>, File> {
    load_from(&src_dir())
}

fn load_from(src: &Path) -> BTreeMap<Vec<String>, File> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut out = BTreeMap::new();
    for path in files {
        let rel = path
            .strip_prefix(src)
            .expect("under src")
            .to_string_lossy()
            .into_owned();
        if rel == "main.rs" {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read a source file");
        let ast = syn::parse_file(&text).unwrap_or_else(|e| panic!("{rel}: {e}"));
        let mut c = Collector::default();
        // Aliases first, so code before a `use` line resolves too.
        for item in &ast.items {
            if let syn::Item::Use(u) = item {
                let mut out = Vec::new();
                use_paths(&u.tree, &mut Vec::new(), &mut out);
                for (full, bound) in out {
                    if bound != "*" {
                        c.aliases.insert(bound, full);
                    }
                }
            }
        }
        c.visit_file(&ast);
        let module = module_of(&rel);
        out.insert(
            module.clone(),
            File {
                rel,
                module,
                paths: c.paths,
                reexports: c.reexports,
            },
        );
    }
    out
}

/// Make `path` (as written in the file of module `at`) absolute: `crate::…` stays,
/// `super::` climbs, `self::` stays in place, and a path that starts with a child module
/// of `at` (`use probe::ProbeInfo` in `media/mod.rs`) is relative to `at`.
fn absolute(
    files: &BTreeMap<Vec<String>, File>,
    at: &[String],
    path: &[String],
) -> Option<Vec<String>> {
    let mut base: Vec<String> = at.to_vec();
    let mut rest = path;
    match rest.first().map(String::as_str) {
        Some("crate") => {
            base.clear();
            rest = &rest[1..];
        }
        Some("self") => rest = &rest[1..],
        Some("super") => {
            while rest.first().map(String::as_str) == Some("super") {
                base.pop()?;
                rest = &rest[1..];
            }
        }
        Some(first) => {
            let mut child = base.clone();
            child.push(first.to_owned());
            if !files.contains_key(&child) {
                return None;
            }
        }
        None => return None,
    }
    base.extend(rest.iter().cloned());
    Some(base)
}

/// The file that defines what an absolute path names, following re-exports.
fn resolve(
    files: &BTreeMap<Vec<String>, File>,
    path: Vec<String>,
    depth: u32,
) -> Option<Vec<String>> {
    if depth > 16 {
        return None;
    }
    // The longest prefix that is a file's module.
    let mut n = path.len();
    while n > 0 && !files.contains_key(&path[..n]) {
        n -= 1;
    }
    let module = path[..n].to_vec();
    let file = files.get(&module)?;
    if let Some(next) = path.get(n)
        && let Some(target) = file.reexports.get(next)
        && let Some(abs) = absolute(files, &module, target)
    {
        let mut abs = abs;
        abs.extend(path[n + 1..].iter().cloned());
        if let Some(found) = resolve(files, abs, depth + 1) {
            return Some(found);
        }
    }
    Some(module)
}

/// Edges between files: (from, to) module paths, from != to.
fn graph(files: &BTreeMap<Vec<String>, File>) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let mut g: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (module, file) in files {
        let edges = g.entry(module.clone()).or_default();
        for p in &file.paths {
            let Some(abs) = absolute(files, &file.module, p) else {
                continue;
            };
            // A parent naming its own child module (`mod x;` and `x::f()`) is the same
            // dependency as a `use`: keep it.
            if let Some(to) = resolve(files, abs, 0)
                && &to != module
            {
                edges.insert(to);
            }
        }
    }
    g
}

fn name(files: &BTreeMap<Vec<String>, File>, m: &[String]) -> String {
    files.get(m).map_or_else(|| m.join("::"), |f| f.rel.clone())
}

/// The top-level module a file belongs to (`media`, `jobs`, ...; `lib` for the root).
fn layer(m: &[String]) -> &str {
    m.first().map_or("lib", String::as_str)
}

/// What each layer must not name: other layers of the crate, and external crates.
fn forbidden(layer: &str) -> (&'static [&'static str], &'static [&'static str]) {
    match layer {
        // The engine takes a source and sinks it is handed.
        "media" => (
            &["api", "cli", "config", "jobs", "net", "server", "storage"],
            &[
                "axum",
                "reqwest",
                "sqlx",
                "tokio",
                "tokio_util",
                "aws_sdk_s3",
                "hyper",
            ],
        ),
        // The contract every front end speaks: leaf of the crate.
        "spec" => (
            &[
                "api", "cli", "config", "jobs", "media", "net", "server", "storage",
            ],
            &["axum", "reqwest", "sqlx", "tokio"],
        ),
        "net" => (
            &["api", "cli", "jobs", "media", "server", "storage", "config"],
            &["axum", "sqlx"],
        ),
        "storage" => (
            &["api", "cli", "jobs", "media", "net", "server"],
            &["axum", "sqlx"],
        ),
        "jobs" => (&["api", "cli", "server"], &["axum"]),
        "api" => (&["cli", "server", "media"], &[]),
        "cli" => (&["api"], &["axum", "sqlx"]),
        _ => (&[], &[]),
    }
}

fn layer_violations(files: &BTreeMap<Vec<String>, File>) -> Vec<String> {
    let g = graph(files);
    let mut wrong = Vec::new();
    for (from, tos) in &g {
        let (layers, crates) = forbidden(layer(from));
        for to in tos {
            if layers.contains(&layer(to)) {
                wrong.push(format!("{} names {}", name(files, from), name(files, to)));
            }
        }
        for c in &externs(files, &files[from]) {
            if crates.contains(&c.as_str()) {
                wrong.push(format!("{} names the crate {c}", name(files, from)));
            }
        }
    }
    wrong
}

#[test]
fn layers_name_only_what_is_below_them() {
    let wrong = layer_violations(&load());
    assert!(
        wrong.is_empty(),
        "layering broken:\n  {}",
        wrong.join("\n  ")
    );
}

/// Each set of files that import each other, directly or around a circle.
fn cycles(files: &BTreeMap<Vec<String>, File>) -> Vec<String> {
    let g = graph(files);
    // Tarjan's strongly connected components.
    struct State<'a> {
        g: &'a BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        index: HashMap<&'a Vec<String>, usize>,
        low: HashMap<&'a Vec<String>, usize>,
        stack: Vec<&'a Vec<String>>,
        on_stack: BTreeSet<&'a Vec<String>>,
        next: usize,
        cycles: Vec<Vec<&'a Vec<String>>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a Vec<String>) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        let g = s.g;
        for w in g.get(v).into_iter().flatten() {
            let Some((w, _)) = g.get_key_value(w) else {
                continue;
            };
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                comp.push(w);
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                s.cycles.push(comp);
            }
        }
    }
    let mut s = State {
        g: &g,
        index: HashMap::new(),
        low: HashMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        cycles: Vec::new(),
    };
    for v in g.keys() {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.cycles
        .iter()
        .map(|c| {
            let mut names: Vec<String> = c.iter().map(|m| name(files, m)).collect();
            names.sort();
            names.join(" <-> ")
        })
        .collect()
}

#[test]
fn no_import_cycle_between_files() {
    let report = cycles(&load());
    assert!(
        report.is_empty(),
        "files that import each other (directly or around a circle):\n  {}",
        report.join("\n  ")
    );
}

#[test]
fn the_checker_follows_re_exports_and_finds_circles() {
    let dir = tempfile::tempdir().expect("temp dir");
    let write = |rel: &str, text: &str| {
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    };
    write("lib.rs", "pub mod media;\npub mod net;\n");
    // media/mod.rs only re-exports; media/a.rs names `crate::media::B` (defined in b.rs).
    write("media/mod.rs", "mod a;\nmod b;\npub use b::B;\n");
    write("media/a.rs", "use crate::media::B;\npub fn f(_: B) {}\n");
    write(
        "media/b.rs",
        "pub struct B;\n#[cfg(test)]\nmod tests { use crate::net::x; }\n",
    );
    write(
        "net/mod.rs",
        "pub fn x() { let _ = crate::media::B; tokio::spawn(async {}); }\n",
    );
    let files = load_from(dir.path());
    let g = graph(&files);
    let m = |s: &str| s.split("::").map(str::to_owned).collect::<Vec<_>>();
    assert!(
        g[&m("media::a")].contains(&m("media::b")),
        "{:?}",
        g[&m("media::a")]
    );
    assert!(
        !g[&m("media::a")].contains(&m("media")),
        "re-export followed"
    );
    assert!(g[&m("media::b")].is_empty(), "test modules are not counted");
    assert!(cycles(&files).is_empty());
    let wrong = layer_violations(&files);
    assert_eq!(
        wrong,
        ["net/mod.rs names media/b.rs"],
        "and tokio is allowed in net"
    );

    // A circle through three files is found.
    write(
        "media/b.rs",
        "pub struct B;\npub fn g() { super::c::h() }\n",
    );
    write(
        "media/c.rs",
        "pub fn h() { crate::media::a::f(crate::media::B) }\n",
    );
    write("media/mod.rs", "mod a;\nmod b;\nmod c;\npub use b::B;\n");
    let found = cycles(&load_from(dir.path()));
    assert_eq!(found, ["media/a.rs <-> media/b.rs <-> media/c.rs"]);

    // So is a parent that calls its child while the child uses what the parent defines.
    write("media/c.rs", "pub fn h() {}\n");
    write("media/b.rs", "pub struct B;\n");
    write(
        "media/mod.rs",
        "mod a;\nmod b;\nmod c;\npub use b::B;\npub struct Control;\npub fn run() { a::f(B) }\n",
    );
    write(
        "media/a.rs",
        "use super::{B, Control};\npub fn f(_: B) { let _ = Control; }\n",
    );
    let found = cycles(&load_from(dir.path()));
    assert_eq!(found, ["media/a.rs <-> media/mod.rs"]);
}
