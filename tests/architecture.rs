//! The layout keeps its shape: read from the `crate::…` and `super::…` paths of every source
//! file, the module graph has no circle, the settings UI never reaches into the REST API, the
//! layers below do not reach up (domain, storage, services), and the domain does not import
//! the delivery code. A new arrow that breaks one of these fails here, naming the files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A source file as a module path: `src/ui/webhooks.rs` is `ui::webhooks`, `src/ui/mod.rs`
/// is `ui`.
fn module_of(root: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(root).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().to_string())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts.join("::")
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            // The benchmark is a binary of its own, outside the library's graph.
            if p.file_name().is_some_and(|n| n != "bin") {
                sources(&p, out);
            }
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Code without comments and string literals (a path in a doc comment is not an import).
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("//") {
            continue;
        }
        let mut in_str = false;
        let mut prev = ' ';
        for c in line.chars() {
            if c == '"' && prev != '\\' {
                in_str = !in_str;
            } else if !in_str {
                out.push(c);
            }
            prev = c;
        }
        out.push('\n');
    }
    out
}

/// The module paths a file refers to: `crate::a::b` and `super::x` (also inside
/// `use super::{x, y::z}` groups), resolved against the file's own module.
fn references(module: &str, code: &str) -> Vec<Vec<String>> {
    let parent: Vec<String> = {
        let mut p: Vec<String> = module.split("::").map(str::to_string).collect();
        p.pop();
        p
    };
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    let ident = |i: usize| {
        bytes
            .get(i)
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
    };
    for (prefix, base) in [("crate::", Vec::<String>::new()), ("super::", parent)] {
        let mut from = 0;
        while let Some(at) = code[from..].find(prefix) {
            let start = from + at;
            from = start + prefix.len();
            if start > 0 && (ident(start - 1) || bytes[start - 1] == b':') {
                continue; // `hookline::crate…` or `self::super` etc.
            }
            let rest = &code[from..];
            let path: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            let segs: Vec<String> = path
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            let head: Vec<String> = base.iter().cloned().chain(segs).collect();
            match rest[path.len()..].strip_prefix('{') {
                // `prefix::a::{b, c::d}`: one path per item of the group.
                Some(group) => {
                    let end = group.find('}').unwrap_or(group.len());
                    for item in group[..end].split(',') {
                        let more: Vec<String> = item
                            .trim()
                            .split("::")
                            .map(|s| s.trim().to_string())
                            .filter(|s| {
                                !s.is_empty() && s != "self" && s != "*" && !s.contains('{')
                            })
                            .collect();
                        out.push(head.iter().cloned().chain(more).collect());
                    }
                }
                None if !head.is_empty() => out.push(head),
                None => {}
            }
        }
    }
    out
}

/// The file module a path lands in: its longest prefix that is a module of the crate.
fn target(modules: &BTreeSet<String>, path: &[String]) -> Option<String> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].join("::"))
        .find(|m| modules.contains(m))
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    let mut modules: BTreeSet<String> = files.iter().map(|f| module_of(&root, f)).collect();
    modules.remove("main");
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let m = module_of(&root, f);
        if m == "main" {
            continue;
        }
        let code = code_only(&std::fs::read_to_string(f).unwrap());
        let edges = g.entry(m.clone()).or_default();
        for r in references(&m, &code) {
            if let Some(t) = target(&modules, &r) {
                // A file's own items, and its parent `mod.rs` handing its children's items
                // on, are not arrows between rooms.
                if t != m && !t.is_empty() {
                    edges.insert(t);
                }
            }
        }
    }
    g
}

fn top(m: &str) -> &str {
    m.split("::").next().unwrap_or(m)
}

#[test]
fn the_module_graph_has_no_circle() {
    let g = graph();
    // Depth-first search for a back edge; report the whole circle.
    fn visit<'a>(
        g: &'a BTreeMap<String, BTreeSet<String>>,
        n: &'a str,
        stack: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(i) = stack.iter().position(|s| *s == n) {
            let mut circle: Vec<String> = stack[i..].iter().map(|s| s.to_string()).collect();
            circle.push(n.to_string());
            return Some(circle);
        }
        if done.contains(n) {
            return None;
        }
        stack.push(n);
        for next in g.get(n).into_iter().flatten() {
            if let Some(c) = visit(g, next, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(n);
        None
    }
    let mut done = BTreeSet::new();
    for n in g.keys() {
        if let Some(circle) = visit(&g, n, &mut Vec::new(), &mut done) {
            panic!("import circle: {}", circle.join(" -> "));
        }
    }
    assert!(g.len() > 40, "the graph was read: {} modules", g.len());
    assert!(
        g["ui::webhooks"].contains("service::webhooks"),
        "the reader finds arrows"
    );
}

#[test]
fn layers_only_reach_down() {
    let g = graph();
    // (a part, the parts it must never import)
    // Storage is reached only through `store` (issue 19): the edges, the services and the
    // engine never name the SQLite backend (`db`), so a second backend needs no change there.
    let never: &[(&str, &[&str])] = &[
        ("ui", &["api", "db", "pg"]),
        ("api", &["ui", "db", "pg"]),
        ("service", &["api", "ui", "startup", "db", "pg"]),
        ("state", &["api", "ui", "service", "startup", "db", "pg"]),
        (
            "delivery",
            &["api", "ui", "service", "startup", "state", "db", "pg"],
        ),
        (
            "notify",
            &[
                "api", "ui", "service", "delivery", "startup", "state", "db", "pg",
            ],
        ),
        (
            "retention",
            &["api", "ui", "service", "delivery", "db", "pg"],
        ),
        (
            "store",
            &[
                "api",
                "ui",
                "service",
                "delivery",
                "notify",
                "startup",
                "state",
                "retention",
            ],
        ),
        // The backends: nothing above the store, not the store itself (only the row and outcome
        // types of `store::types`, which both share), and not each other.
        (
            "db",
            &[
                "api",
                "ui",
                "service",
                "delivery",
                "notify",
                "startup",
                "state",
                "retention",
                "store",
                "pg",
            ],
        ),
        (
            "pg",
            &[
                "api",
                "ui",
                "service",
                "delivery",
                "notify",
                "startup",
                "state",
                "retention",
                "store",
                "db",
            ],
        ),
        (
            "domain",
            &[
                "api", "ui", "service", "delivery", "db", "pg", "store", "notify", "startup",
                "state", "metrics", "crypto", "config",
            ],
        ),
    ];
    let mut wrong = Vec::new();
    for (from, edges) in &g {
        for (part, forbidden) in never {
            if top(from) != *part {
                continue;
            }
            for to in edges {
                // The row and outcome types are shared by the store and its backends.
                if forbidden.contains(&top(to)) && to != "store::types" {
                    wrong.push(format!("{from} -> {to}"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "arrows that must not be: {wrong:#?}");
}

/// SQL lives in the storage backends: no other library code names `rusqlite` or the
/// PostgreSQL driver (unit tests may set up rows; the bench's bulk loaders in `src/bin` write a
/// stopped server's file directly, by design).
#[test]
fn only_the_backends_name_their_drivers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    assert!(files.len() > 40, "the sources were read");
    for (driver, home) in [
        ("rusqlite", "db"),
        ("tokio_postgres", "pg"),
        ("deadpool_postgres", "pg"),
    ] {
        let wrong: Vec<String> = files
            .iter()
            .filter(|f| !f.starts_with(root.join(home)))
            .filter(|f| {
                let text = std::fs::read_to_string(f).unwrap();
                let code = text.split("#[cfg(test)]").next().unwrap_or("");
                code_only(code).contains(driver)
            })
            .map(|f| f.strip_prefix(&root).unwrap().display().to_string())
            .collect();
        assert!(wrong.is_empty(), "{driver} outside src/{home}: {wrong:?}");
    }
}
