//! Imports between source files point one way: no file of the decoders (the back-end
//! adapters, the engine choice, the probe types) imports, directly or through others, a
//! file that imports it back. Read from the source text: every `crate::…` and `super::…`
//! path (in `use` lines and inline), and a `mod.rs`'s paths into its own children, outside
//! comments and `#[cfg(test)] mod tests`. Widen `ACYCLIC` as other parts of `src/` become
//! acyclic.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Files (or folders, ending in `/`) under `src/` that must not be on an import cycle.
const ACYCLIC: &[&str] = &[
    "media/backend.rs",
    "media/decode/",
    "media/ffmpeg/",
    "media/info.rs",
];

/// Source files by their path under `src/` (`media/decode/mod.rs`).
type Tree = BTreeMap<String, String>;
/// Imports: file -> files it names.
type Graph = BTreeMap<String, BTreeSet<String>>;

fn read_tree(src: &Path) -> Tree {
    fn walk(dir: &Path, src: &Path, out: &mut Tree) {
        for entry in std::fs::read_dir(dir).expect("read src/") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                walk(&path, src, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(src).expect("under src/");
                let text = std::fs::read_to_string(&path).expect("read a source file");
                out.insert(rel.to_string_lossy().replace('\\', "/"), text);
            }
        }
    }
    let mut tree = Tree::new();
    walk(src, src, &mut tree);
    tree
}

/// The module path of a file: `media/decode/mod.rs` -> [media, decode].
fn module_of(file: &str) -> Vec<String> {
    let mut parts: Vec<String> = file
        .trim_end_matches(".rs")
        .split('/')
        .map(String::from)
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The code of a file without comments and without its unit-test module.
fn code_of(text: &str) -> String {
    let mut code = String::new();
    for line in text.lines() {
        let line = line.split("//").next().unwrap_or("");
        code.push_str(line);
        code.push('\n');
    }
    let mut at = 0;
    while let Some(i) = code[at..].find("#[cfg(test)]") {
        let start = at + i;
        let rest = code[start + "#[cfg(test)]".len()..].trim_start();
        let rest = rest.strip_prefix("pub(crate)").unwrap_or(rest).trim_start();
        if rest.starts_with("mod tests") {
            code.truncate(start);
            break;
        }
        at = start + 1;
    }
    code
}

/// Every path in `code`: identifiers joined by `::`, a trailing `{a, b::c}` group expanded
/// one level (`x::{a, b}` gives `x::a` and `x::b`, and `x` itself).
fn paths(code: &str) -> Vec<Vec<String>> {
    let bytes = code.as_bytes();
    let ident = |i: usize| -> usize {
        let mut j = i;
        while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
            j += 1;
        }
        j
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let starts = (bytes[i].is_ascii_alphabetic() || bytes[i] == b'_')
            && (i == 0
                || !(bytes[i - 1].is_ascii_alphanumeric() || matches!(bytes[i - 1], b'_' | b':')));
        if !starts {
            i += 1;
            continue;
        }
        let mut segs = Vec::new();
        let mut j = i;
        loop {
            let end = ident(j);
            segs.push(code[j..end].to_string());
            j = end;
            if code[j..].starts_with("::") && j + 2 < bytes.len() {
                let next = bytes[j + 2];
                if next.is_ascii_alphabetic() || next == b'_' {
                    j += 2;
                    continue;
                }
                if next == b'{'
                    && let Some(close) = code[j + 2..].find('}')
                {
                    for item in code[j + 3..j + 2 + close].split(',') {
                        let first = item.trim().split("::").next().unwrap_or("").trim();
                        if !first.is_empty() && first != "self" && first != "*" {
                            let mut p = segs.clone();
                            p.push(first.to_string());
                            out.push(p);
                        }
                    }
                    j += 2 + close;
                }
            }
            break;
        }
        if segs.len() > 1 || code[j..].starts_with('}') {
            out.push(segs);
        }
        i = j.max(i + 1);
    }
    out
}

fn graph(tree: &Tree) -> Graph {
    let modules: BTreeMap<Vec<String>, String> =
        tree.keys().map(|f| (module_of(f), f.clone())).collect();
    // The file holding the longest prefix of a module path.
    let resolve = |segs: &[String]| -> Option<String> {
        (1..=segs.len())
            .rev()
            .find_map(|n| modules.get(&segs[..n]).cloned())
    };
    let mut g = Graph::new();
    for (file, text) in tree {
        let code = code_of(text);
        let me = module_of(file);
        let children: BTreeSet<String> = code
            .lines()
            .filter_map(|l| {
                let l = l.trim();
                let l = match l.strip_prefix("pub") {
                    Some(rest) if rest.starts_with('(') => rest.split_once(')')?.1.trim_start(),
                    Some(rest) => rest.trim_start(),
                    None => l,
                };
                l.strip_prefix("mod ")?
                    .strip_suffix(';')
                    .map(str::to_string)
            })
            .collect();
        let mut names = BTreeSet::new();
        for p in paths(&code) {
            let target: Option<Vec<String>> = match p[0].as_str() {
                "crate" => Some(p[1..].to_vec()),
                "super" => {
                    let mut base = me[..me.len().saturating_sub(1)].to_vec();
                    let mut rest = &p[1..];
                    while rest.first().is_some_and(|s| s == "super") {
                        base.pop();
                        rest = &rest[1..];
                    }
                    base.extend(rest.iter().cloned());
                    Some(base)
                }
                child if children.contains(child) => {
                    let mut base = me.clone();
                    base.extend(p.iter().cloned());
                    Some(base)
                }
                _ => None,
            };
            if let Some(t) = target.and_then(|t| resolve(&t))
                && t != *file
            {
                names.insert(t);
            }
        }
        g.insert(file.clone(), names);
    }
    g
}

/// Files on an import cycle (that can reach themselves).
fn on_cycles(g: &Graph) -> BTreeSet<String> {
    let reaches = |from: &str, to: &str| -> bool {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<&str> = g[from].iter().map(String::as_str).collect();
        while let Some(f) = todo.pop() {
            if f == to {
                return true;
            }
            if seen.insert(f) {
                todo.extend(g[f].iter().map(String::as_str));
            }
        }
        false
    };
    g.keys().filter(|f| reaches(f, f)).cloned().collect()
}

/// One cycle through `file`, for the failure message.
fn cycle_through(g: &Graph, file: &str) -> Vec<String> {
    let mut prev: BTreeMap<&str, &str> = BTreeMap::new();
    let mut todo = std::collections::VecDeque::from([file]);
    while let Some(f) = todo.pop_front() {
        for next in &g[f] {
            if next == file {
                let mut back = Vec::new();
                let mut at = f;
                while at != file {
                    back.push(at.to_string());
                    at = prev[at];
                }
                let mut path = vec![file.to_string()];
                path.extend(back.into_iter().rev());
                path.push(file.to_string());
                return path;
            }
            if !prev.contains_key(next.as_str()) {
                prev.insert(next, f);
                todo.push_back(next);
            }
        }
    }
    Vec::new()
}

#[test]
fn the_decoders_are_on_no_import_cycle() {
    let src: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let g = graph(&read_tree(&src));
    let in_scope = |f: &str| {
        ACYCLIC.iter().any(|s| {
            if s.ends_with('/') {
                f.starts_with(s)
            } else {
                f == *s
            }
        })
    };
    let scoped: Vec<&String> = g.keys().filter(|f| in_scope(f)).collect();
    assert!(
        scoped.len() >= 15,
        "the scope names the decoder files: {scoped:?}"
    );
    let bad: Vec<String> = on_cycles(&g)
        .into_iter()
        .filter(|f| in_scope(f))
        .map(|f| cycle_through(&g, &f).join(" -> "))
        .collect();
    assert!(bad.is_empty(), "import cycles:\n{}", bad.join("\n"));
}

/// The reader sees the imports a cycle is made of: `use super::{…}`, `crate::` paths inline,
/// a `mod.rs` naming its child; and not those in comments or in the unit tests.
#[test]
fn the_import_reader_finds_cycles() {
    let tree: Tree = [
        ("lib.rs", "pub mod a;\npub mod b;\n"),
        ("a/mod.rs", "mod inner;\nfn f() { inner::g(); }\n"),
        ("a/inner.rs", "use super::super::b::{self, X};\n"),
        ("b.rs", "pub struct X;\nfn h() -> crate::a::Y { todo() }\n"),
        ("c.rs", "// crate::d::Z\nuse crate::b::X;\n"),
        (
            "d.rs",
            "use crate::b;\n#[cfg(test)]\nmod tests {\n    use crate::d::*;\n    use crate::c;\n}\n",
        ),
    ]
    .into_iter()
    .map(|(f, t)| (f.to_string(), t.to_string()))
    .collect();
    let g = graph(&tree);
    assert_eq!(g["a/inner.rs"], BTreeSet::from(["b.rs".to_string()]));
    assert_eq!(g["c.rs"], BTreeSet::from(["b.rs".to_string()]));
    assert_eq!(g["d.rs"], BTreeSet::from(["b.rs".to_string()]));
    let cyclic = on_cycles(&g);
    assert_eq!(
        cyclic,
        ["a/inner.rs", "a/mod.rs", "b.rs"].map(String::from).into()
    );
    let cycle = cycle_through(&g, "b.rs");
    assert_eq!(cycle, ["b.rs", "a/mod.rs", "a/inner.rs", "b.rs"]);
}
