//! Tidy checks of the server's own source, in the manner of rust-analyzer's
//! `xtask/src/tidy.rs`: cheap tests that read `crates/server/src` as text
//! and fail, naming the file and the path, when the layout drifts.
//!
//! - Every module of the crate has a layer ([`LAYERS`]) and uses only
//!   modules of lower layers (`crate::…` paths, in `use` groups and inline).
//! - Inside one module, its files use each other in one direction: no
//!   cycle among `super::…` and `crate::<module>::…` paths (a `mod.rs` that
//!   re-exports its files is above them, so they must not use it).
//! - Only `graphql/` names async-graphql, but for the files of
//!   [`ASYNC_GRAPHQL_ELSEWHERE`].
//!
//! Comments and string literals are ignored. Test modules
//! (`#[cfg(test)] mod … { … }`) are held to the layers but not to the
//! direction inside a module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The modules of `crates/server/src`, bottom to top. A module may use the
/// modules of earlier entries only; the modules of one entry do not use
/// each other.
const LAYERS: &[&[&str]] = &[
    &["clock", "telemetry", "build_info", "systemd"],
    &["config", "rate_limit"],
    &["auth"],
    &["feed"],
    &["graphql"],
    &["ws"],
    &["state"],
    &["http"],
    &["startup"],
    &["admin", "healthcheck"],
];

/// Files outside `graphql/` that may name async-graphql, and why.
const ASYNC_GRAPHQL_ELSEWHERE: &[(&str, &str)] = &[(
    "ws/protocol.rs",
    "decodes a subscribe message's payload into async-graphql's request type, \
     as async-graphql decodes one over HTTP (and the fuzz crate compiles the \
     file on its own)",
)];

#[test]
fn modules_use_only_lower_layers() {
    let files = source_files();
    let mut errors = Vec::new();
    let declared = declared_modules(&files["lib.rs"]);
    let layered: BTreeSet<String> = LAYERS
        .iter()
        .flat_map(|l| l.iter())
        .map(|m| m.to_string())
        .collect();
    for m in declared.difference(&layered) {
        errors.push(format!(
            "lib.rs declares `mod {m}`, which has no layer: add it to LAYERS in {}",
            file!()
        ));
    }
    for m in layered.difference(&declared) {
        errors.push(format!(
            "LAYERS names `{m}`, which lib.rs does not declare: remove it from {}",
            file!()
        ));
    }
    for (file, text) in &files {
        let Some(module) = module_path(file) else {
            continue;
        };
        let top = &module[0];
        let Some(from) = layer(top) else {
            continue;
        };
        let (code, tests) = split_test_modules(&code(text));
        let mut in_tests = module.clone();
        in_tests.push("tests".into());
        let children = declared_children(file, text);
        let paths = imports(&module, &code, &children)
            .into_iter()
            .chain(imports(&in_tests, &tests, &BTreeSet::new()));
        let mut seen = BTreeSet::new();
        for (shown, path) in paths {
            let target = &path[0];
            if target == top || !seen.insert((shown.clone(), target.clone())) {
                continue;
            }
            match layer(target) {
                None => errors.push(format!(
                    "{file}: `{shown}` goes through the crate root (`crate::{target}`): name the module it is in"
                )),
                Some(to) if to >= from => errors.push(format!(
                    "{file}: `{shown}`: {top} (layer {from}) must not use {target} (layer {to})"
                )),
                Some(_) => {}
            }
        }
    }
    assert!(
        errors.is_empty(),
        "imports against the layering of crates/server/src (layers, bottom to top: {LAYERS:?}; \
         move what a module needs down, or pass it in from above):\n  {}",
        errors.join("\n  ")
    );
}

#[test]
fn the_files_of_a_module_use_each_other_in_one_direction() {
    let files = source_files();
    // module → file → files it uses
    let mut graphs: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    let mut shown: BTreeMap<(String, String), String> = BTreeMap::new();
    for (file, text) in &files {
        let Some(module) = module_path(file) else {
            continue;
        };
        if !file.contains('/') {
            continue;
        }
        let top = module[0].clone();
        let node = module.get(1).cloned().unwrap_or_else(|| "mod".into());
        let siblings: BTreeSet<String> = files
            .keys()
            .filter_map(|f| f.strip_prefix(&format!("{top}/")))
            .map(|f| {
                f.split('/')
                    .next()
                    .unwrap_or(f)
                    .trim_end_matches(".rs")
                    .to_owned()
            })
            .collect();
        let graph = graphs.entry(top.clone()).or_default();
        graph.entry(node.clone()).or_default();
        let (code, _tests) = split_test_modules(&code(text));
        for (path_text, path) in imports(&module, &code, &declared_children(file, text)) {
            if path[0] != top {
                continue;
            }
            let target = match path.get(1) {
                Some(s) if siblings.contains(s) && s != "mod" => s.clone(),
                _ => "mod".into(),
            };
            if target != node {
                shown
                    .entry((file.clone(), target.clone()))
                    .or_insert(path_text);
                graph.entry(node.clone()).or_default().insert(target);
            }
        }
    }
    let mut errors = Vec::new();
    for (module, graph) in &mut graphs {
        // Each cycle once: after reporting one, drop its closing edge and look again.
        while let Some(cycle) = find_cycle(graph) {
            let (last, first) = (&cycle[cycle.len() - 2], &cycle[cycle.len() - 1]);
            if let Some(edges) = graph.get_mut(last) {
                edges.remove(first);
            }
            let steps: Vec<String> = cycle
                .windows(2)
                .map(|w| {
                    let file = file_of(module, &w[0]);
                    format!("{file} uses `{}`", shown[&(file.clone(), w[1].clone())])
                })
                .collect();
            errors.push(format!(
                "{module}/: the files use each other in a cycle: {}",
                steps.join(", ")
            ));
        }
    }
    assert!(
        errors.is_empty(),
        "pick one direction among a module's files (what several need goes into a file below them; \
         a mod.rs that uses its files is above them):\n  {}",
        errors.join("\n  ")
    );
}

#[test]
fn only_graphql_names_async_graphql() {
    let files = source_files();
    let mut errors = Vec::new();
    for (allowed, _why) in ASYNC_GRAPHQL_ELSEWHERE {
        if !files.contains_key(*allowed) {
            errors.push(format!(
                "ASYNC_GRAPHQL_ELSEWHERE names {allowed}, which does not exist"
            ));
        }
    }
    for (file, text) in &files {
        if file.starts_with("graphql/") || ASYNC_GRAPHQL_ELSEWHERE.iter().any(|(f, _)| f == file) {
            continue;
        }
        let code = code(text);
        if let Some(at) = find_word(&code, "async_graphql") {
            let line = code[..at].matches('\n').count() + 1;
            errors.push(format!(
                "{file}:{line} names async_graphql: go through graphql::Api, or add the file to \
                 ASYNC_GRAPHQL_ELSEWHERE with the reason it cannot"
            ));
        }
    }
    assert!(
        errors.is_empty(),
        "async-graphql outside graphql/:\n  {}",
        errors.join("\n  ")
    );
}

/// The `.rs` files under `crates/server/src`, by path relative to it
/// (with `/`), and their text.
fn source_files() -> BTreeMap<String, String> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<String, String>) {
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                walk(&path, root, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(root).expect("under src");
                let rel = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                let text = std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                out.insert(rel, text);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = BTreeMap::new();
    walk(&root, &root, &mut files);
    assert!(
        files.contains_key("lib.rs"),
        "no lib.rs under {}",
        root.display()
    );
    files
}

/// The module path of a file: `graphql/sync.rs` is `graphql::sync`,
/// `graphql/mod.rs` is `graphql`. `None` for the crate roots.
fn module_path(file: &str) -> Option<Vec<String>> {
    if file == "lib.rs" || file == "main.rs" {
        return None;
    }
    let mut parts: Vec<String> = file
        .trim_end_matches(".rs")
        .split('/')
        .map(str::to_owned)
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    Some(parts)
}

fn layer(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn file_of(module: &str, node: &str) -> String {
    if node == "mod" {
        format!("{module}/mod.rs")
    } else {
        format!("{module}/{node}.rs")
    }
}

/// The modules a file declares (`mod x;`, `pub mod x;`, `pub(crate) mod x;`).
fn declared_modules(text: &str) -> BTreeSet<String> {
    code(text)
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let rest = l
                .strip_prefix("pub ")
                .or_else(|| l.strip_prefix("pub(crate) "))
                .unwrap_or(l);
            rest.strip_prefix("mod ")?
                .strip_suffix(';')
                .map(|m| m.trim().to_owned())
        })
        .collect()
}

/// The files a `mod.rs` declares, which it may name without a prefix.
fn declared_children(file: &str, text: &str) -> BTreeSet<String> {
    if file.ends_with("mod.rs") {
        declared_modules(text)
    } else {
        BTreeSet::new()
    }
}

/// Every path of this crate that `code` (of the file of module `module`)
/// uses, as written and as an absolute path from the crate root: `crate::…`,
/// `super::…` and, in a `mod.rs`, `self::child::…` and `child::…`. A `use`
/// group stands for each of its paths.
fn imports(
    module: &[String],
    code: &str,
    children: &BTreeSet<String>,
) -> Vec<(String, Vec<String>)> {
    let bytes = code.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let boundary = i == 0 || !(is_ident(bytes[i - 1]) || bytes[i - 1] == b':');
        if !boundary || !is_ident(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        let word = ident(bytes, &mut i);
        if !code[i..].starts_with("::") {
            continue;
        }
        let base: Vec<String> = match word.as_str() {
            "crate" => Vec::new(),
            "super" => module[..module.len().saturating_sub(1)].to_vec(),
            "self" => module.to_vec(),
            w if children.contains(w) => {
                i = start;
                module.to_vec()
            }
            _ => continue,
        };
        if i != start {
            i += 2;
        }
        let tree_start = i;
        for tail in tree(bytes, &mut i) {
            let mut path = base.clone();
            for seg in tail {
                match seg.as_str() {
                    "super" => {
                        path.pop();
                    }
                    "self" => {}
                    _ => path.push(seg),
                }
            }
            if !path.is_empty() {
                let written = format!("{}{}", &code[start..tree_start], &code[tree_start..i]);
                out.push((
                    written.split_whitespace().collect::<Vec<_>>().join(" "),
                    path,
                ));
            }
        }
    }
    out
}

/// A path or `use` tree after `::`: its paths (segments after the prefix).
fn tree(bytes: &[u8], i: &mut usize) -> Vec<Vec<String>> {
    skip_space(bytes, i);
    match bytes.get(*i) {
        Some(b'{') => {
            *i += 1;
            let mut out = Vec::new();
            loop {
                skip_space(bytes, i);
                match bytes.get(*i) {
                    None => break,
                    Some(b'}') => {
                        *i += 1;
                        break;
                    }
                    Some(b',') => *i += 1,
                    Some(_) => {
                        let before = *i;
                        out.extend(tree(bytes, i));
                        if *i == before {
                            *i += 1;
                        }
                    }
                }
            }
            out
        }
        Some(c) if is_ident(*c) => {
            let seg = ident(bytes, i);
            if bytes[*i..].starts_with(b"::") {
                *i += 2;
                tree(bytes, i)
                    .into_iter()
                    .map(|mut t| {
                        t.insert(0, seg.clone());
                        t
                    })
                    .collect()
            } else {
                vec![vec![seg]]
            }
        }
        // `*`, or generic arguments: the path so far.
        _ => vec![Vec::new()],
    }
}

fn ident(bytes: &[u8], i: &mut usize) -> String {
    let start = *i;
    while *i < bytes.len() && is_ident(bytes[*i]) {
        *i += 1;
    }
    String::from_utf8_lossy(&bytes[start..*i]).into_owned()
}

fn skip_space(bytes: &[u8], i: &mut usize) {
    while *i < bytes.len() && bytes[*i].is_ascii_whitespace() {
        *i += 1;
    }
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Where `word` first occurs in `code` as a whole identifier (or the start
/// of one, as in `async_graphql_value`).
fn find_word(code: &str, word: &str) -> Option<usize> {
    code.match_indices(word)
        .map(|(at, _)| at)
        .find(|&at| at == 0 || !is_ident(code.as_bytes()[at - 1]))
}

/// The code of a file without comments, and with every string and char
/// literal emptied (line breaks are kept, so lines still count).
fn code(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    let keep_lines =
        |out: &mut Vec<u8>, from: &[u8]| out.extend(from.iter().filter(|&&c| c == b'\n'));
    while i < b.len() {
        let rest = &b[i..];
        let boundary = i == 0 || !is_ident(b[i - 1]);
        if rest.starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if rest.starts_with(b"/*") {
            let (mut depth, start) = (0usize, i);
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            keep_lines(&mut out, &b[start..i]);
        } else if boundary && raw_string_start(rest).is_some() {
            let (skip, hashes) = raw_string_start(rest).expect("checked");
            let start = i;
            i += skip;
            let mut close = vec![b'"'];
            close.extend(std::iter::repeat_n(b'#', hashes));
            while i < b.len() && !b[i..].starts_with(&close) {
                i += 1;
            }
            i = (i + close.len()).min(b.len());
            keep_lines(&mut out, &b[start..i]);
            out.extend(b"\"\"");
        } else if b[i] == b'"' {
            let start = i;
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            keep_lines(&mut out, &b[start..i.min(b.len())]);
            out.extend(b"\"\"");
        } else if b[i] == b'\'' {
            // A char literal ('x', '\n', '\u{1F600}', '…'), or a lifetime.
            let len = if b.get(i + 1) == Some(&b'\\') {
                // The escaped char, then up to the closing quote.
                b.get(i + 3..)
                    .and_then(|r| r.iter().position(|&c| c == b'\''))
                    .map(|p| p + 4)
            } else {
                let width = text[i + 1..].chars().next().map_or(1, char::len_utf8);
                (b.get(i + 1 + width) == Some(&b'\'')).then_some(width + 2)
            };
            match len {
                Some(len) => {
                    out.extend(b"' '");
                    i += len;
                }
                None => {
                    out.push(b'\'');
                    i += 1;
                }
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `r"`, `r#"`, `br##"`, …: the bytes up to the opening quote, and the hashes.
fn raw_string_start(rest: &[u8]) -> Option<(usize, usize)> {
    let after_b = rest.strip_prefix(b"b").unwrap_or(rest);
    let after_r = after_b.strip_prefix(b"r")?;
    let hashes = after_r.iter().take_while(|&&c| c == b'#').count();
    (after_r.get(hashes) == Some(&b'"'))
        .then_some((rest.len() - after_r.len() + hashes + 1, hashes))
}

/// `code` without its `#[cfg(test)] mod … { … }` blocks (their lines
/// kept empty), and the code inside those blocks.
fn split_test_modules(code: &str) -> (String, String) {
    let mut out = code.to_owned();
    let mut tests = String::new();
    let mut from = 0;
    while let Some(at) = out[from..].find("#[cfg(test)]").map(|p| p + from) {
        let b = out.as_bytes();
        let mut i = at + "#[cfg(test)]".len();
        skip_space(b, &mut i);
        if out[i..].starts_with("pub ") {
            i += 4;
        }
        if !out[i..].starts_with("mod ") {
            from = i;
            continue;
        }
        let Some(open) = out[i..].find(['{', ';']).map(|p| p + i) else {
            break;
        };
        if b[open] == b';' {
            from = open;
            continue;
        }
        let mut depth = 0usize;
        let mut end = b.len();
        for (j, &c) in b.iter().enumerate().skip(open) {
            match c {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = j + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        tests.push_str(&out[open + 1..end.saturating_sub(1).max(open + 1)]);
        tests.push('\n');
        let lines = out[at..end].matches('\n').count();
        out.replace_range(at..end, &"\n".repeat(lines));
        from = at;
    }
    (out, tests)
}

/// A cycle of `graph`, as its nodes with the first repeated at the end.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        done: &mut BTreeSet<String>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, done, stack) {
                return Some(cycle);
            }
        }
        stack.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut done, &mut Vec::new()))
}

#[test]
fn the_reader_finds_paths_in_groups_and_inline_and_skips_comments_and_strings() {
    let module = vec!["graphql".to_owned(), "sync".to_owned()];
    let code = code(
        "use crate::{auth::AuthUser, feed::{Feed, self}};\n\
         // use crate::ws::Started;\n\
         let s = \"crate::http::x /* \"; let c = '\"'; let r = r#\"crate::state\"#;\n\
         fn f<'a>(x: &'a str) { crate::clock::now_ms(); super::error::internal(x) }",
    );
    let paths: Vec<Vec<String>> = imports(&module, &code, &BTreeSet::new())
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    let want: Vec<Vec<String>> = [
        &["auth", "AuthUser"][..],
        &["feed", "Feed"],
        &["feed"],
        &["clock", "now_ms"],
        &["graphql", "error", "internal"],
    ]
    .iter()
    .map(|p| p.iter().map(|s| s.to_string()).collect())
    .collect();
    assert_eq!(paths, want);
    let (code, tests) =
        split_test_modules("a();\n#[cfg(test)]\nmod tests {\n    fn b() { {} }\n}\nc();");
    assert_eq!(
        code, "a();\n\n\n\n\nc();",
        "the test module is gone, its lines kept"
    );
    assert_eq!(tests, "\n    fn b() { {} }\n\n", "and its body is apart");
    let mut graph = BTreeMap::new();
    graph.insert("a".to_owned(), BTreeSet::from(["b".to_owned()]));
    graph.insert("b".to_owned(), BTreeSet::from(["a".to_owned()]));
    assert_eq!(
        find_cycle(&graph),
        Some(vec!["a".into(), "b".into(), "a".into()])
    );
}
