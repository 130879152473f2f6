//! `docs/API.md` is the project's contract; these host tests hold it to the code.
//!
//! - Routes: every `### `METHOD /path`` heading of the doc is an operation of the served OpenAPI
//!   document ([`openapi::document`]) and the other way round, and the router sends it to the
//!   [`Route`] the heading names.
//! - Per route: the bold `**2xx**` statuses of its `- Answer:` item are the document's success
//!   statuses, the statuses of its `- Errors:` item its error statuses, and every query, path and
//!   header parameter and every top-level body field of the document is named in the section.
//! - Errors: the doc's error table lists every [`ErrorCode`] with its status, and nothing else;
//!   the document's `Error` schema has the same codes.
//! - Links: no markdown link in `README.md` or `docs/` leaves the repository (`../shared/…`), and
//!   every relative link points at a file that exists.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use edge_assistant::api::ErrorCode;
use edge_assistant::openapi;
use edge_assistant::routes::{route, Method, Route};
use serde_json::Value;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(relative: &str) -> String {
    let path = repo_root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// One `### `METHOD /path`` section of `docs/API.md`.
struct DocRoute {
    method: String,
    path: String,
    /// The section's lines after the heading, up to the next heading.
    lines: Vec<String>,
}

impl DocRoute {
    fn name(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// The text of the bullet item `- {key}:`, continuation (indented) lines included; `None`
    /// when the section has no such item. Panics when it has two.
    fn item(&self, key: &str) -> Option<String> {
        let start = format!("- {key}:");
        let count = self.lines.iter().filter(|l| l.starts_with(&start)).count();
        assert!(count <= 1, "{}: {count} `{start}` items", self.name());
        let mut lines = self.lines.iter();
        let mut text = lines.find_map(|l| l.strip_prefix(&start))?.to_owned();
        for line in lines.take_while(|l| l.starts_with("  ") && !l.trim().is_empty()) {
            text.push(' ');
            text.push_str(line.trim());
        }
        Some(text)
    }

    fn section(&self) -> String {
        self.lines.join("\n")
    }
}

/// Parses the route sections of `docs/API.md`.
fn doc_routes(doc: &str) -> Vec<DocRoute> {
    let mut routes: Vec<DocRoute> = Vec::new();
    let mut current: Option<DocRoute> = None;
    for line in doc.lines() {
        if line.starts_with('#') {
            routes.extend(current.take());
            let heading = line
                .strip_prefix("### `")
                .and_then(|rest| rest.strip_suffix('`'));
            if let Some((method, path)) = heading.and_then(|h| h.split_once(' ')) {
                if path.starts_with("/api/") {
                    current = Some(DocRoute {
                        method: method.to_owned(),
                        path: path.to_owned(),
                        lines: Vec::new(),
                    });
                }
            }
        } else if let Some(route) = current.as_mut() {
            route.lines.push(line.to_owned());
        }
    }
    routes.extend(current);
    routes
}

/// The three-digit numbers (statuses) in `text`.
fn statuses(text: &str) -> BTreeSet<u16> {
    text.split(|c: char| !c.is_ascii_digit())
        .filter(|t| t.len() == 3)
        .map(|t| t.parse().unwrap())
        .collect()
}

/// Statuses written in bold, `**201**`.
fn bold_statuses(text: &str) -> BTreeSet<u16> {
    text.split("**")
        .skip(1)
        .step_by(2)
        .filter(|t| t.len() == 3 && t.bytes().all(|b| b.is_ascii_digit()))
        .map(|t| t.parse().unwrap())
        .collect()
}

/// The operations of the OpenAPI document, keyed by `"METHOD /path"`.
fn openapi_operations(doc: &Value) -> BTreeMap<String, Value> {
    let mut ops = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            ops.insert(format!("{} {path}", method.to_uppercase()), op.clone());
        }
    }
    ops
}

/// Follows a local `$ref` (`#/components/...`).
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let pointer = reference.strip_prefix('#').expect("a local $ref");
            doc.pointer(pointer)
                .unwrap_or_else(|| panic!("dangling $ref {reference}"))
        }
        None => schema,
    }
}

/// The route, method and path template each [`Route`] is documented under. The match is
/// exhaustive: a new route does not compile here until it is given its heading, which the tests
/// below then require in `docs/API.md` and in the OpenAPI document.
fn documented_as(route: &Route) -> (&'static str, &'static str) {
    match route {
        Route::Health => ("GET", "/api/health"),
        Route::OpenApi => ("GET", "/api/openapi.json"),
        Route::CreateTab => ("POST", "/api/tabs"),
        Route::ListTabs => ("GET", "/api/tabs"),
        Route::GetTab(_) => ("GET", "/api/tabs/{id}"),
        Route::RenameTab(_) => ("PATCH", "/api/tabs/{id}"),
        Route::DeleteTab(_) => ("DELETE", "/api/tabs/{id}"),
        Route::AppendMessage(_) => ("POST", "/api/tabs/{id}/messages"),
        Route::ListMessages(_) => ("GET", "/api/tabs/{id}/messages"),
        Route::TabStats(_) => ("GET", "/api/tabs/{id}/stats"),
        Route::FlushTab(_) => ("POST", "/api/tabs/{id}/flush"),
        Route::Search => ("GET", "/api/search"),
        Route::SearchCacheStats => ("GET", "/api/search/cache/stats"),
        Route::Rollout => ("POST", "/api/rollout"),
        Route::CreateRun => ("POST", "/api/rollout/runs"),
        Route::GetRun(_) => ("GET", "/api/rollout/runs/{id}"),
        Route::StepRun(_) => ("POST", "/api/rollout/runs/{id}/step"),
        Route::RunBuffer(_) => ("GET", "/api/rollout/runs/{id}/buffer"),
        Route::DeleteRun(_) => ("DELETE", "/api/rollout/runs/{id}"),
        Route::Intent => ("POST", "/api/intent"),
        Route::StartReply(_) => ("POST", "/api/tabs/{id}/replies"),
        Route::GetReply(..) => ("GET", "/api/tabs/{id}/replies/{reply_id}"),
        Route::ReplyEvents(..) => ("GET", "/api/tabs/{id}/replies/{reply_id}/events"),
        Route::CancelReply(..) => ("POST", "/api/tabs/{id}/replies/{reply_id}/cancel"),
        Route::Usage => ("GET", "/api/usage"),
        Route::Live(_) => ("GET", "/api/tabs/{id}/live"),
        Route::CreateWorkspace => ("POST", "/api/workspaces"),
        Route::ListWorkspaces => ("GET", "/api/workspaces"),
        Route::GetWorkspace(_) => ("GET", "/api/workspaces/{id}"),
        Route::DeleteWorkspace(_) => ("DELETE", "/api/workspaces/{id}"),
        Route::UploadArchive(_) => ("PUT", "/api/workspaces/{id}/archive"),
        Route::ListFiles(_) => ("GET", "/api/workspaces/{id}/files"),
        Route::PutFile(..) => ("PUT", "/api/workspaces/{id}/files/{path}"),
        Route::GetFile(..) => ("GET", "/api/workspaces/{id}/files/{path}"),
        Route::DeleteFile(..) => ("DELETE", "/api/workspaces/{id}/files/{path}"),
        Route::Symbols(_) => ("GET", "/api/workspaces/{id}/symbols"),
    }
}

/// Every error code. The match is exhaustive, so a new code does not compile here until it is
/// listed (and then must be in the doc's error table).
fn all_error_codes() -> Vec<ErrorCode> {
    use ErrorCode::*;
    let all = vec![
        InvalidJson,
        InvalidField,
        UnknownField,
        LimitExceeded,
        Unauthorized,
        NotFound,
        MethodNotAllowed,
        Conflict,
        PayloadTooLarge,
        UnsupportedMediaType,
        RateLimited,
        QuotaExceeded,
        UpstreamError,
        UpstreamTimeout,
        NotConfigured,
        Internal,
    ];
    for code in &all {
        match code {
            InvalidJson | InvalidField | UnknownField | LimitExceeded | Unauthorized | NotFound
            | MethodNotAllowed | Conflict | PayloadTooLarge | UnsupportedMediaType
            | RateLimited | QuotaExceeded | UpstreamError | UpstreamTimeout | NotConfigured
            | Internal => {}
        }
    }
    all
}

/// The `| `code` | status | … |` rows of the doc's `## Errors` section.
fn doc_error_table(doc: &str) -> BTreeMap<String, u16> {
    let mut table = BTreeMap::new();
    let mut in_errors = false;
    for line in doc.lines() {
        if line.starts_with("## ") {
            in_errors = line.trim() == "## Errors";
            continue;
        }
        if !in_errors || !line.starts_with("| `") {
            continue;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let code = cells[1].trim_matches('`').to_owned();
        let status = cells[2]
            .parse()
            .unwrap_or_else(|_| panic!("error table row without a status: {line}"));
        assert!(
            table.insert(code.clone(), status).is_none(),
            "`{code}` is listed twice"
        );
    }
    table
}

#[test]
fn doc_and_openapi_describe_the_same_routes() {
    let doc = doc_routes(&read("docs/API.md"));
    let ops = openapi_operations(&openapi::document());
    let mut documented = BTreeSet::new();
    for route in &doc {
        assert!(
            documented.insert(route.name()),
            "docs/API.md documents {} twice",
            route.name()
        );
    }
    let served: BTreeSet<String> = ops.keys().cloned().collect();
    let missing: Vec<_> = served.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&served).collect();
    assert!(
        missing.is_empty(),
        "routes of the OpenAPI document missing from docs/API.md: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "routes in docs/API.md that the OpenAPI document does not have: {extra:?}"
    );
}

#[test]
fn every_documented_route_is_routed_to_its_handler() {
    for doc in doc_routes(&read("docs/API.md")) {
        let concrete = doc
            .path
            .replace("{id}", "abc_123")
            .replace("{reply_id}", "r_456")
            // A file path of more than one segment: the router keeps it whole.
            .replace("{path}", "src/lib.rs");
        let routed = route(Method::parse(&doc.method), &concrete)
            .unwrap_or_else(|e| panic!("{} is not routed: {e}", doc.name()));
        assert_eq!(
            documented_as(&routed),
            (doc.method.as_str(), doc.path.as_str()),
            "{} reaches {routed:?}",
            doc.name()
        );
    }
}

#[test]
fn each_route_documents_the_statuses_of_its_operation() {
    let doc = doc_routes(&read("docs/API.md"));
    let ops = openapi_operations(&openapi::document());
    for route in &doc {
        let name = route.name();
        let Some(op) = ops.get(&name) else { continue };
        let responses: BTreeSet<u16> = op["responses"]
            .as_object()
            .unwrap()
            .keys()
            .map(|s| s.parse().unwrap())
            .collect();
        let (ok, errors): (BTreeSet<u16>, BTreeSet<u16>) =
            responses.into_iter().partition(|s| *s < 400);
        let answer = route
            .item("Answer")
            .unwrap_or_else(|| panic!("{name}: no `- Answer:` item"));
        assert_eq!(
            bold_statuses(&answer),
            ok,
            "{name}: success statuses of docs/API.md vs OpenAPI"
        );
        let documented = route
            .item("Errors")
            .unwrap_or_else(|| panic!("{name}: no `- Errors:` item"));
        assert_eq!(
            statuses(&documented),
            errors,
            "{name}: error statuses of docs/API.md vs OpenAPI"
        );
    }
}

#[test]
fn each_route_names_its_parameters_and_body_fields() {
    let document = openapi::document();
    let doc = doc_routes(&read("docs/API.md"));
    let ops = openapi_operations(&document);
    for route in &doc {
        let name = route.name();
        let Some(op) = ops.get(&name) else { continue };
        let section = route.section().to_lowercase();
        let mut fields: Vec<String> = Vec::new();
        for param in op["parameters"].as_array().into_iter().flatten() {
            fields.push(param["name"].as_str().unwrap().to_owned());
        }
        if let Some(schema) = op["requestBody"]["content"]["application/json"].get("schema") {
            let schema = resolve(&document, schema);
            fields.extend(schema["properties"].as_object().unwrap().keys().cloned());
        }
        for field in fields {
            assert!(
                names(&section, &field.to_lowercase()),
                "{name}: docs/API.md does not name `{field}`"
            );
        }
    }
}

/// Whether `text` holds `field` in code: a backtick, the name, then no further name character
/// (so `q` is not found in `quota`).
fn names(text: &str, field: &str) -> bool {
    let needle = format!("`{field}");
    text.match_indices(&needle).any(|(at, _)| {
        text[at + needle.len()..]
            .chars()
            .next()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
    })
}

#[test]
fn every_error_code_is_documented_with_its_status() {
    let table = doc_error_table(&read("docs/API.md"));
    let codes = all_error_codes();
    for code in &codes {
        assert_eq!(
            table.get(code.as_str()),
            Some(&code.status()),
            "docs/API.md's error table must list `{}` with {}",
            code.as_str(),
            code.status()
        );
    }
    for name in table.keys() {
        assert!(
            ErrorCode::from_name(name).is_some(),
            "docs/API.md lists `{name}`, which the worker never sends"
        );
    }
    let document = openapi::document();
    let schema_codes: BTreeSet<&str> = document["components"]["schemas"]["Error"]["properties"]
        ["error"]["properties"]["code"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let all: BTreeSet<&str> = codes.iter().map(|c| c.as_str()).collect();
    assert_eq!(schema_codes, all, "the OpenAPI Error schema's codes");
    // Every error status a route lists belongs to a documented code.
    let table_statuses: BTreeSet<u16> = table.values().copied().collect();
    for route in doc_routes(&read("docs/API.md")) {
        let listed = statuses(&route.item("Errors").unwrap_or_default());
        let unknown: Vec<_> = listed.difference(&table_statuses).collect();
        assert!(
            unknown.is_empty(),
            "{}: statuses {unknown:?} have no code in the error table",
            route.name()
        );
    }
}

/// Link targets of a markdown text: inline links and images `[..](target)` and reference
/// definitions `[label]: target`, outside fenced code blocks and code spans.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut in_fence = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        // Drop code spans: keep what lies outside backticks.
        let prose: String = line.split('`').step_by(2).collect::<Vec<_>>().join(" ");
        let mut rest = prose.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let mut depth = 0;
            let end = after
                .char_indices()
                .find(|&(_, c)| match c {
                    '(' => {
                        depth += 1;
                        false
                    }
                    ')' if depth == 0 => true,
                    ')' => {
                        depth -= 1;
                        false
                    }
                    _ => false,
                })
                .map_or(after.len(), |(i, _)| i);
            targets.push(after[..end].to_owned());
            rest = &after[end..];
        }
        if let Some((label, target)) = trimmed
            .strip_prefix('[')
            .and_then(|def| def.split_once("]:"))
        {
            if !label.is_empty() && !label.starts_with('^') {
                targets.push(target.to_owned());
            }
        }
    }
    targets
        .into_iter()
        .map(|t| {
            let t = t.trim();
            match t.strip_prefix('<') {
                Some(inner) => inner.split('>').next().unwrap_or_default().to_owned(),
                // Drop an optional title: `(path "title")`.
                None => t.split_whitespace().next().unwrap_or_default().to_owned(),
            }
        })
        .collect()
}

/// Why a link target from the file at `from` (relative to the repository root) is not fine:
/// it leaves the repository, or names a file that does not exist. External URLs and anchors are
/// fine.
fn link_problem(root: &Path, from: &Path, target: &str) -> Option<String> {
    if target.is_empty() {
        return Some("empty link target".into());
    }
    if target.starts_with('#') || target.contains("://") || target.starts_with("mailto:") {
        return None;
    }
    let path = target.split(['#', '?']).next().unwrap_or_default();
    let mut parts: Vec<&str> = Vec::new();
    let (base, path) = match path.strip_prefix('/') {
        Some(absolute) => (Path::new(""), absolute),
        None => (from.parent().unwrap_or(Path::new("")), path),
    };
    let base: Vec<String> = base
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts.extend(base.iter().map(String::as_str));
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Some(format!("`{target}` leaves the repository"));
                }
            }
            name => parts.push(name),
        }
    }
    let resolved: PathBuf = parts.iter().collect();
    if !root.join(&resolved).exists() {
        return Some(format!(
            "`{target}` points at {}, which does not exist",
            resolved.display()
        ));
    }
    None
}

/// `README.md` and every markdown file under `docs/`, relative to the repository root.
fn markdown_files(root: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        entries.sort();
        for name in entries {
            let path = dir.join(&name);
            if root.join(&path).is_dir() {
                walk(root, &path, out);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path);
            }
        }
    }
    let mut files = vec![PathBuf::from("README.md")];
    walk(root, Path::new("docs"), &mut files);
    files
}

#[test]
fn no_markdown_link_leaves_the_repository() {
    let root = repo_root();
    let files = markdown_files(&root);
    assert!(files.contains(&PathBuf::from("docs/API.md")));
    let mut problems = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        for target in link_targets(&text) {
            if let Some(problem) = link_problem(&root, file, &target) {
                problems.push(format!("{}: {problem}", file.display()));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_link_check_finds_links_that_leave_or_dangle() {
    let text = "See [`shared/API.md`](../shared/API.md) and ![x](docs/screenshots/chat.png).\n\
                ```md\n[in a fence](../outside.md)\n```\n\
                Code `[not a link](../x)`, [web](https://example.com/a_(b)), [here](#limits).\n\
                [ref]: ../../etc/passwd \"title\"\n\
                [missing](docs/NOPE.md) [up and back](docs/../README.md)";
    let targets = link_targets(text);
    assert_eq!(
        targets,
        [
            "../shared/API.md",
            "docs/screenshots/chat.png",
            "https://example.com/a_(b)",
            "#limits",
            "../../etc/passwd",
            "docs/NOPE.md",
            "docs/../README.md",
        ]
    );
    let root = repo_root();
    let readme = Path::new("README.md");
    let problem = |t: &str| link_problem(&root, readme, t);
    assert!(problem("../shared/API.md").unwrap().contains("leaves"));
    assert!(problem("../../etc/passwd").unwrap().contains("leaves"));
    assert!(problem("docs/NOPE.md").unwrap().contains("does not exist"));
    assert_eq!(problem("docs/screenshots/chat.png"), None);
    assert_eq!(problem("docs/../README.md"), None);
    assert_eq!(problem("https://example.com/a_(b)"), None);
    assert_eq!(problem("#limits"), None);
    // From docs/, `../README.md` stays inside the repository.
    assert_eq!(
        link_problem(&root, Path::new("docs/API.md"), "../README.md"),
        None
    );
    assert!(link_problem(&root, Path::new("docs/API.md"), "../../x.md").is_some());
}
